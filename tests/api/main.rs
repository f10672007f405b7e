//! Integration tests: the real app over real HTTP against real `redis-server` processes.

mod harness;
mod process;

mod acks;
mod auth;
mod bounds;
mod errors;
mod examples;
mod expiry;
mod faults;
mod fidelity;
mod health;
mod isolation;
mod lifecycle;
mod limits;
mod local_redis;
mod metrics;
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
mod shutdown;
mod startup;
mod tls;
mod unavailable;
