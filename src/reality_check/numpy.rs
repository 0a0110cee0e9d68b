//! Random streams that reproduce numpy's bit for bit: PCG64 with numpy's SeedSequence and
//! Ziggurat tables (`pcg`, `zig_tables`), and the analyzer's run-key seeds (`seeding`).

pub mod pcg;
pub mod seeding;
mod zig_tables;
