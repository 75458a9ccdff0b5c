//! vcinterop: runs a batch of damocles tasks of one stage through an
//! external processor with damocles' own producer, `vc-processors`, the way
//! damocles-worker does: it spawns the processor with a cleared-then-given
//! environment, waits for its ready line within stable_wait, and sends every
//! task at once from its own thread, so requests are in flight together and
//! answers may come back in any order.
//!
//! usage: vcinterop STAGE BIN [ARG...] < tasks.json > results.json
//!
//! tasks.json is a JSON array of task bodies; results.json is a JSON array,
//! one entry per task in the same order: {"output": ...} or {"err": "..."}.
//! The task and output types below mirror the serde shapes damocles uses
//! (interop facts: 32-byte values as integer arrays, proof names as
//! strings, unpadded piece sizes), so a processor answering in any other
//! encoding fails to decode here, as it would in damocles-worker.

use std::env;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vc_processors::core::ext::{BoxedFinalizeHook, BoxedPrepareHook, ProducerBuilder};
use vc_processors::core::{Processor, Task};

#[derive(Debug, Serialize, Deserialize)]
struct PieceInfo {
    commitment: [u8; 32],
    size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct TreeD {
    registered_proof: String,
    staged_file: PathBuf,
    cache_dir: PathBuf,
}

impl Task for TreeD {
    const STAGE: &'static str = "tree_d";
    type Output = bool;
}

#[derive(Debug, Serialize, Deserialize)]
struct PC1 {
    registered_proof: String,
    cache_path: PathBuf,
    in_path: PathBuf,
    out_path: PathBuf,
    prover_id: [u8; 32],
    sector_id: u64,
    ticket: [u8; 32],
    piece_infos: Vec<PieceInfo>,
}

/// PC1's output is filecoin-ffi's own JSON (labels, store configs, comm_d);
/// damocles carries it whole. A mock's differs in its inner fields, so it
/// is kept as a JSON value; its comm_d must still be 32 integers.
#[derive(Debug, Serialize, Deserialize)]
struct PC1Out {
    registered_proof: String,
    comm_d: [u8; 32],
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

impl Task for PC1 {
    const STAGE: &'static str = "pc1";
    type Output = PC1Out;
}

#[derive(Debug, Serialize, Deserialize)]
struct PC2 {
    pc1out: PC1Out,
    cache_dir: PathBuf,
    sealed_file: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct PC2Out {
    registered_proof: String,
    comm_r: [u8; 32],
    comm_d: [u8; 32],
}

impl Task for PC2 {
    const STAGE: &'static str = "pc2";
    type Output = PC2Out;
}

#[derive(Debug, Serialize, Deserialize)]
struct C2 {
    c1out: Value,
    prover_id: [u8; 32],
    sector_id: u64,
    miner_id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct C2Out {
    proof: Vec<u8>,
}

impl Task for C2 {
    const STAGE: &'static str = "c2";
    type Output = C2Out;
}

fn run<T: Task>(bin: PathBuf, args: Vec<String>, input: &str) -> Result<Vec<Value>> {
    let tasks: Vec<T> = serde_json::from_str(input).with_context(|| format!("tasks.json is not an array of {} tasks", T::STAGE))?;
    // damocles-worker's defaults: environment inherited, then the block's
    // envs; with a cgroup.cpuset it adds VC_CG_NAME/VC_CG_CPUSET, which the
    // processor under test must log as ignored.
    let producer = ProducerBuilder::<BoxedPrepareHook<T>, BoxedFinalizeHook<T>>::new(bin, args)
        .stable_timeout(Duration::from_secs(5))
        .cpuset(format!("vcinterop/sub-{}-{}", T::STAGE, std::process::id()), "0".to_string())
        .spawn::<T>()
        .context("spawning the processor (no ready line within 5 s?)")?;
    let producer = Arc::new(producer);
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let p = producer.clone();
            thread::spawn(move || p.process(task))
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        let r = h.join().map_err(|_| anyhow!("a request thread panicked"))?;
        out.push(match r {
            Ok(o) => serde_json::json!({ "output": o }),
            Err(e) => serde_json::json!({ "err": format!("{e:#}") }),
        });
    }
    Ok(out)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
    let argv: Vec<String> = env::args().collect();
    if argv.len() < 3 {
        eprintln!("usage: vcinterop STAGE BIN [ARG...] < tasks.json > results.json");
        return ExitCode::from(2);
    }
    let (stage, bin, args) = (argv[1].as_str(), PathBuf::from(&argv[2]), argv[3..].to_vec());
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("vcinterop: reading tasks: {e}");
        return ExitCode::from(1);
    }
    let res = match stage {
        "tree_d" => run::<TreeD>(bin, args, &input),
        "pc1" => run::<PC1>(bin, args, &input),
        "pc2" => run::<PC2>(bin, args, &input),
        "c2" => run::<C2>(bin, args, &input),
        other => Err(anyhow!("stage {other:?}: this driver knows tree_d, pc1, pc2, c2")),
    };
    match res {
        Ok(v) => {
            println!("{}", Value::Array(v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vcinterop: {e:#}");
            ExitCode::from(1)
        }
    }
}
