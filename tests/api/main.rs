//! Integration tests: the real app over real HTTP against real `redis-server` processes.

mod harness;

mod errors;
mod examples;
mod expiry;
mod health;
mod isolation;
mod lifecycle;
mod openapi;
mod race;
mod retention;
mod retries;
mod roundtrips;
mod scripts;
mod unavailable;
