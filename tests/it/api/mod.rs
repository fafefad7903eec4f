//! The API function: the request contract, its document, hostile requests, DynamoDB throttling
//! and malformed items, the log, sign-in with Rocket.Chat and the `events/` fixtures.

mod contract;
mod dynamo;
mod events;
mod hardening;
mod openapi;
mod signin;
mod telemetry;
mod throttling;
