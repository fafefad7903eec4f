//! Storage: traits returning domain types, a DynamoDB adapter and an in-memory one.

pub mod items;
