//! Generates Groth16 parameters and verifying keys for small test sectors
//! into FIL_PROOFS_PARAMETER_CACHE, where filecoin-proofs looks them up by
//! circuit name.
//!
//! INSECURE: the randomness of this setup (its "toxic waste") is not
//! destroyed by a ceremony, so whoever ran this could forge proofs. Proofs
//! made with these files verify only against these same verifying keys,
//! never against the network's. They exist so that sealhost can seal and
//! verify 2KiB/8MiB sectors for real on a machine that cannot download the
//! published parameters.
//!
//! Usage: sealhost-paramgen SIZES CIRCUITS
//!   SIZES     comma list of sector sizes in bytes (2048,8388608)
//!   CIRCUITS  comma list of porep, winning-post, window-post, update
//! Files already in the cache are kept (filecoin-proofs reads them instead
//! of generating), so a second run is quick.

use std::env;
use std::process::exit;

use anyhow::{bail, Context, Result};
use filecoin_proofs::constants::{
    DefaultPieceHasher, WINDOW_POST_CHALLENGE_COUNT, WINDOW_POST_SECTOR_COUNT,
    WINNING_POST_CHALLENGE_COUNT, WINNING_POST_SECTOR_COUNT,
};
use filecoin_proofs::parameters::{
    public_params, window_post_public_params, winning_post_public_params,
};
use filecoin_proofs::types::{PoRepConfig, PoStConfig, SectorSize};
use filecoin_proofs::{with_shape, PoStType};
use rand::rngs::OsRng;
use storage_proofs_core::api_version::ApiVersion;
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::merkle::MerkleTreeTrait;
use storage_proofs_core::parameter_cache::CacheableParameters;
use storage_proofs_porep::stacked::{StackedCircuit, StackedCompound, StackedDrg};
use storage_proofs_post::fallback::{FallbackPoSt, FallbackPoStCircuit, FallbackPoStCompound};
use storage_proofs_update::constants::TreeRHasher;
use storage_proofs_update::{
    circuit::EmptySectorUpdateCircuit, compound::EmptySectorUpdateCompound, EmptySectorUpdate,
};

// paramcache's default API version; V1, V1_1 and synthetic PoRep share one
// circuit, so one parameter file serves them all.
const API: ApiVersion = ApiVersion::V1_1_0;

fn porep<Tree: 'static + MerkleTreeTrait>(size: u64) -> Result<()> {
    let config = PoRepConfig::new_groth16(size, [0; 32], API);
    let pp = public_params(&config)?;
    let circuit = <StackedCompound<Tree, DefaultPieceHasher> as CompoundProof<
        StackedDrg<Tree, DefaultPieceHasher>,
        StackedCircuit<Tree, DefaultPieceHasher>,
    >>::blank_circuit(&pp);
    StackedCompound::<Tree, DefaultPieceHasher>::get_param_metadata(circuit.clone(), &pp)?;
    StackedCompound::<Tree, DefaultPieceHasher>::get_groth_params(Some(&mut OsRng), circuit.clone(), &pp)?;
    StackedCompound::<Tree, DefaultPieceHasher>::get_verifying_key(Some(&mut OsRng), circuit, &pp)?;
    Ok(())
}

fn post<Tree: 'static + MerkleTreeTrait>(config: PoStConfig) -> Result<()> {
    let pp = match config.typ {
        PoStType::Winning => winning_post_public_params::<Tree>(&config)?,
        PoStType::Window => window_post_public_params::<Tree>(&config)?,
    };
    let circuit = <FallbackPoStCompound<Tree> as CompoundProof<
        FallbackPoSt<Tree>,
        FallbackPoStCircuit<Tree>,
    >>::blank_circuit(&pp);
    FallbackPoStCompound::<Tree>::get_param_metadata(circuit.clone(), &pp)?;
    FallbackPoStCompound::<Tree>::get_groth_params(Some(&mut OsRng), circuit.clone(), &pp)?;
    FallbackPoStCompound::<Tree>::get_verifying_key(Some(&mut OsRng), circuit, &pp)?;
    Ok(())
}

fn update<Tree: 'static + MerkleTreeTrait<Hasher = TreeRHasher>>(size: u64) -> Result<()> {
    let pp = storage_proofs_update::PublicParams::from_sector_size(size);
    let circuit = <EmptySectorUpdateCompound<Tree> as CompoundProof<
        EmptySectorUpdate<Tree>,
        EmptySectorUpdateCircuit<Tree>,
    >>::blank_circuit(&pp);
    <EmptySectorUpdateCompound<Tree> as CompoundProof<EmptySectorUpdate<Tree>, EmptySectorUpdateCircuit<Tree>>>::groth_params::<OsRng>(Some(&mut OsRng), &pp)?;
    EmptySectorUpdateCompound::<Tree>::get_param_metadata(circuit, &pp)?;
    <EmptySectorUpdateCompound<Tree> as CompoundProof<EmptySectorUpdate<Tree>, EmptySectorUpdateCircuit<Tree>>>::verifying_key::<OsRng>(Some(&mut OsRng), &pp)?;
    Ok(())
}

fn post_config(size: u64, typ: PoStType) -> Result<PoStConfig> {
    let (challenge_count, sector_count) = match typ {
        PoStType::Winning => (WINNING_POST_CHALLENGE_COUNT, WINNING_POST_SECTOR_COUNT),
        PoStType::Window => (
            WINDOW_POST_CHALLENGE_COUNT,
            *WINDOW_POST_SECTOR_COUNT
                .read()
                .expect("WINDOW_POST_SECTOR_COUNT poisoned")
                .get(&size)
                .context("no window PoSt sector count for this size")?,
        ),
    };
    Ok(PoStConfig {
        sector_size: SectorSize(size),
        challenge_count,
        sector_count,
        typ,
        priority: true,
        api_version: API,
    })
}

fn run(sizes: &str, circuits: &str) -> Result<()> {
    for s in sizes.split(',') {
        let size: u64 = s.trim().parse().with_context(|| format!("sector size {s:?} is not a number of bytes"))?;
        if ![2048u64, 4096, 16384, 32768, 8 << 20, 16 << 20, 512 << 20].contains(&size) {
            bail!("sector size {size}: only test sizes up to 512MiB are generated here (larger ones take hours and production sizes need the published parameters)");
        }
        for c in circuits.split(',') {
            let started = std::time::Instant::now();
            match c.trim() {
                "porep" => with_shape!(size, porep, size)?,
                "winning-post" => with_shape!(size, post, post_config(size, PoStType::Winning)?)?,
                "window-post" => with_shape!(size, post, post_config(size, PoStType::Window)?)?,
                "update" => with_shape!(size, update, size)?,
                other => bail!("unknown circuit {other:?}: want porep, winning-post, window-post or update"),
            }
            eprintln!("sealhost-paramgen: {c} for {size}-byte sectors ready in {:.1}s (INSECURE test parameters)", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

fn main() {
    fil_logger::init();
    let args: Vec<String> = env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: sealhost-paramgen SIZES CIRCUITS   (e.g. 2048 porep,window-post)");
        exit(2);
    }
    if env::var_os("FIL_PROOFS_PARAMETER_CACHE").is_none() {
        eprintln!("sealhost-paramgen: set FIL_PROOFS_PARAMETER_CACHE to the directory to fill");
        exit(2);
    }
    if let Err(e) = run(&args[1], &args[2]) {
        eprintln!("sealhost-paramgen: {e:#}");
        exit(1);
    }
}
