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
//! The task and output types below mirror vc-processors 0.2.1's builtin
//! tasks (src/builtin/tasks.rs and the filecoin-proofs-api 12 types they
//! name) as serde writes them: 32-byte values as integer arrays, proof
//! types as variant names, unpadded piece sizes, partition and snap proofs
//! as integer arrays, PoSt SnarkProofs as standard base64 strings. So a
//! processor answering in any other encoding fails to decode here, as it
//! would in damocles-worker.
//!
//! What damocles-worker does with such an answer: vc-processors dumps the
//! line and drops it, and the request waits for ever. This driver waits at
//! most VCINTEROP_TIMEOUT seconds (default 60) and then reports each task
//! still unanswered as an error saying so, rather than hang the test.

use std::env;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
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

/// filecoin-proofs-api 12's RegisteredUpdateProof, written by variant name.
#[derive(Debug, Serialize, Deserialize)]
enum UpdateProof {
    StackedDrg2KiBV1,
    StackedDrg8MiBV1,
    StackedDrg512MiBV1,
    StackedDrg32GiBV1,
    StackedDrg64GiBV1,
}

/// filecoin-proofs-api 12's RegisteredPoStProof: the V1 variants only
/// (the window V1_2 ones came with later versions of the API, so a
/// damocles-worker built on vc-processors 0.2.1 cannot send them).
#[derive(Debug, Serialize, Deserialize)]
enum PoStProof {
    StackedDrgWinning2KiBV1,
    StackedDrgWinning8MiBV1,
    StackedDrgWinning512MiBV1,
    StackedDrgWinning32GiBV1,
    StackedDrgWinning64GiBV1,
    StackedDrgWindow2KiBV1,
    StackedDrgWindow8MiBV1,
    StackedDrgWindow512MiBV1,
    StackedDrgWindow32GiBV1,
    StackedDrgWindow64GiBV1,
}

/// Where an add_pieces piece's bytes are: serde's externally tagged enum
/// in camelCase, {"url": ...}, {"local": ...} or "pledge".
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum PieceFile {
    Url(String),
    Local(PathBuf),
    Pledge,
}

#[derive(Debug, Serialize, Deserialize)]
struct Piece {
    piece_file: PieceFile,
    payload_size: u64,
    /// UnpaddedBytesAmount, a newtype serde writes as its integer.
    piece_size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct AddPieces {
    seal_proof_type: String,
    pieces: Vec<Piece>,
    staged_filepath: PathBuf,
}

impl Task for AddPieces {
    const STAGE: &'static str = "add_pieces";
    type Output = Vec<PieceInfo>;
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapEncode {
    registered_proof: UpdateProof,
    new_replica_path: PathBuf,
    new_cache_path: PathBuf,
    sector_path: PathBuf,
    sector_cache_path: PathBuf,
    staged_data_path: PathBuf,
    piece_infos: Vec<PieceInfo>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapEncodeOut {
    comm_r_new: [u8; 32],
    comm_r_last_new: [u8; 32],
    comm_d_new: [u8; 32],
}

impl Task for SnapEncode {
    const STAGE: &'static str = "snap_encode";
    type Output = SnapEncodeOut;
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapProve {
    registered_proof: UpdateProof,
    /// sic: damocles' spelling. Each a partition's vanilla proof.
    vannilla_proofs: Vec<Vec<u8>>,
    comm_r_old: [u8; 32],
    comm_r_new: [u8; 32],
    comm_d_new: [u8; 32],
}

impl Task for SnapProve {
    const STAGE: &'static str = "snap_prove";
    type Output = Vec<u8>;
}

#[derive(Debug, Serialize, Deserialize)]
struct PoStReplica {
    sector_id: u64,
    comm_r: [u8; 32],
    cache_dir: PathBuf,
    sealed_file: PathBuf,
}

/// The PoSt tasks: window_post and winning_post carry the same fields.
#[derive(Debug, Serialize, Deserialize)]
struct PoSt {
    miner_id: u64,
    proof_type: PoStProof,
    replicas: Vec<PoStReplica>,
    seed: [u8; 32],
}

/// A SnarkProof: vc-processors' BytesVec, standard base64 with padding.
#[derive(Debug)]
struct SnarkProof(Vec<u8>);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Serialize for SnarkProof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(self.0.len().div_ceil(3) * 4);
        for c in self.0.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                out.push(if i <= c.len() { B64[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        s.serialize_str(&out)
    }
}

/// decode_b64 reads standard base64 as the base64 crate's STANDARD engine
/// does by default: padding required, no bits set past the last byte.
fn decode_b64(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return Err(format!("base64 of {} characters, not a multiple of 4", b.len()));
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return Err("more than two '=' at the end of base64".into());
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (q, chunk) in b.chunks(4).enumerate() {
        let last = q == b.len() / 4 - 1;
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'=' if last && i >= 4 - pad => 0,
                _ => B64.iter().position(|&a| a == c).ok_or_else(|| format!("{:?} is not a standard base64 character", c as char))? as u32,
            };
            n = n << 6 | v;
        }
        let keep = if last { 3 - pad } else { 3 };
        if last && pad > 0 && n & ((1 << (8 * pad)) - 1) != 0 {
            return Err("base64 with bits set past its last byte".into());
        }
        out.extend_from_slice(&n.to_be_bytes()[1..1 + keep]);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for SnarkProof {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        decode_b64(&s).map(SnarkProof).map_err(de::Error::custom)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct WindowPoStOut {
    proofs: Vec<SnarkProof>,
    faults: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WindowPoSt(PoSt);

impl Task for WindowPoSt {
    const STAGE: &'static str = "window_post";
    type Output = WindowPoStOut;
}

#[derive(Debug, Serialize, Deserialize)]
struct WinningPoStOut {
    proofs: Vec<SnarkProof>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WinningPoSt(PoSt);

impl Task for WinningPoSt {
    const STAGE: &'static str = "winning_post";
    type Output = WinningPoStOut;
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
    let n = tasks.len();
    let (tx, rx) = mpsc::channel();
    for (i, task) in tasks.into_iter().enumerate() {
        let (p, tx) = (producer.clone(), tx.clone());
        thread::spawn(move || {
            let r = match p.process(task) {
                Ok(o) => serde_json::to_value(o).map(|o| serde_json::json!({ "output": o })).map_err(|e| anyhow!("{e}")),
                Err(e) => Ok(serde_json::json!({ "err": format!("{e:#}") })),
            };
            let _ = tx.send((i, r));
        });
    }
    let wait = env::var("VCINTEROP_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut out: Vec<Option<Value>> = (0..n).map(|_| None).collect();
    for _ in 0..n {
        let Ok((i, r)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else { break };
        out[i] = Some(r?);
    }
    Ok(out
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                serde_json::json!({ "err": format!(
                    "no answer that decodes as a {} output within {wait} s: vc-processors drops a response it cannot decode (the dump above), so damocles-worker would wait for it for ever",
                    T::STAGE) })
            })
        })
        .collect())
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
        "add_pieces" => run::<AddPieces>(bin, args, &input),
        "snap_encode" => run::<SnapEncode>(bin, args, &input),
        "snap_prove" => run::<SnapProve>(bin, args, &input),
        "window_post" => run::<WindowPoSt>(bin, args, &input),
        "winning_post" => run::<WinningPoSt>(bin, args, &input),
        other => Err(anyhow!(
            "stage {other:?}: this driver knows add_pieces, tree_d, pc1, pc2, c2, snap_encode, snap_prove, window_post and winning_post (vc-processors 0.2.1 has no unseal task)"
        )),
    };
    match res {
        Ok(v) => {
            println!("{}", Value::Array(v));
            let _ = io::Write::flush(&mut io::stdout());
            // Threads still waiting for an answer that will never decode
            // would keep the process alive: leave now (the processor sees
            // its stdin end and exits).
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("vcinterop: {e:#}");
            ExitCode::from(1)
        }
    }
}
