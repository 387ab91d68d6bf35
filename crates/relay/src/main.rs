mod cli;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = cli::dispatch(&args) {
        std::process::exit(code)
    }
}
