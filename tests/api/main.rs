//! Integration tests: the real app over real HTTP against real `redis-server` processes.

mod harness;

mod bounds;
mod errors;
mod examples;
mod expiry;
mod fidelity;
mod health;
mod isolation;
mod lifecycle;
mod openapi;
mod policy;
mod producers;
mod queues;
mod race;
mod replays;
mod retention;
mod retries;
mod roundtrips;
mod schema;
mod scripts;
mod startup;
mod unavailable;
