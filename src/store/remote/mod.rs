//! A shared cache on an S3 object store: the remote's address ([`url`]),
//! access from the standard AWS settings ([`credentials`]), where blobs and
//! records live ([`layout`]), what a record holds ([`record`]), the client
//! ([`client`]), moving entries ([`transfer`], many at once: [`sync`]) and what one run does with a
//! remote ([`session`]); gc and verify of the remote itself ([`upkeep`]).

pub mod client;
pub mod credentials;
pub mod layout;
pub mod record;
pub mod session;
pub mod sync;
pub mod transfer;
pub mod upkeep;
pub mod url;
