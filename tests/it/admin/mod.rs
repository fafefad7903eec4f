//! The operators' tool and what it reads: the admin CLI, imports of Rocket.Chat exports (and
//! the shared export fixtures' cases), identity imports, and `template.yaml`'s promises.

mod cli;
mod identity_import;
mod import;
mod import_writes;
mod rocketchat_export;
mod template;
