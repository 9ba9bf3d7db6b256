//! Process-level tests of the `vigie` binary: each test writes its own
//! configuration, starts `vigie serve` (or runs `vigie admin` / `vigie
//! device`) as a child process, and talks to it and to real peers (the
//! SMSC simulator, Kannel, a DC-09 panel) over loopback.

mod box_process;
mod cli;
mod clock_step;
mod crash;
mod dc09_crash;
mod disk_full;
mod evidence_e2e;
mod hub;
mod kannel_e2e;
mod smpp_e2e;
mod smpp_inbound;
