pub mod infonet;
