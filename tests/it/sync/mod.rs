//! The sync from Rocket.Chat's REST API: cycles, the walk over a changing workspace, users and
//! sessions, connections, the scheduled path and the outgoing-HTTP rules.

mod batch_get;
mod connect;
mod cycle;
mod identity;
mod outbound;
mod scheduled;
mod walk;
