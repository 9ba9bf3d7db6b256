//! The hub's integration tests: one binary, one module per concern.

mod answer_page;
mod clock;
mod concurrency;
mod dc09;
mod device_api;
mod edge;
mod failover;
mod helpers;
mod http_gateway;
mod leases;
mod migrations;
mod openapi;
mod pendants;
mod s3;
mod scenario;
mod smpp_gateway;
mod supervision;
mod vault;
