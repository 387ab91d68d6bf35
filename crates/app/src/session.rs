//! The session shared by every panel through a Yew context: the open storage, the unlocked
//! identity and this tab's role. The root provides it once the identity is loaded; panels
//! read it instead of receiving storage/identity/leader as props.
use std::rc::Rc;

use postern_core::Identity;

use crate::model::tabs::{duties, Role};
use crate::platform::idb::Storage;

#[derive(Clone)]
pub struct Session {
    pub storage: Rc<Storage>,
    pub identity: Rc<Identity>,
    pub role: Role,
}

impl Session {
    /// This tab runs the background writers (relay sync, outbox drain): only the leader.
    pub fn leader(&self) -> bool {
        duties(self.role).sync
    }
}

impl PartialEq for Session {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.storage, &o.storage)
            && Rc::ptr_eq(&self.identity, &o.identity)
            && self.role == o.role
    }
}
