//! Offline collateral: one file (`collateral_service = "file:///path.json"`) or a directory of
//! bundle files (air-gapped verifiers, tests).
//!
//! Both re-read a file when its modification time or size changes, so an operator refreshes
//! collateral by replacing the file (write a new one and rename it over the old), without a
//! restart. A file is parsed once per change, not per verification.
//!
//! A bundle directory holds `*.json` files directly inside it, each either a PCS client file
//! or a dcap-qvl bundle (the two formats of [`super::bundle`]); other files are ignored. When
//! several bundles have collateral for a quote's platform, the one current at the verification
//! time wins (its TCB info issued, nothing past its `nextUpdate`); failing that the most
//! recently issued one already issued, failing that the earliest. So a directory can keep old
//! bundles beside new ones and still verify old evidence at its own time.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Deserialize;

use super::bundle::{Bundle, load_bundle, malformed};
use super::{
    CollateralRequest, DcapCollateral, DcapCollateralSource, IntelCollateralError, TcbUpdateType,
};
use crate::Clock;
use crate::collateral::CollateralError;

/// Most files considered in a bundle directory.
const MAX_DIR_FILES: usize = 4096;

/// What identifies one version of a file: its modification time and size.
type Stamp = (Option<SystemTime>, u64);

/// A parsed bundle, or why the file could not be parsed.
type Parsed = Result<Arc<Bundle>, String>;

fn stamp(path: &Path) -> Result<Stamp, CollateralError> {
    let metadata = std::fs::metadata(path).map_err(|err| CollateralError::Io {
        path: path.to_path_buf(),
        kind: err.kind(),
    })?;
    Ok((metadata.modified().ok(), metadata.len()))
}

/// Parses a bundle file on the blocking pool (a PCS client file can be megabytes).
async fn load(path: PathBuf) -> Result<Bundle, CollateralError> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || load_bundle(&path))
        .await
        .unwrap_or(Err(CollateralError::Io {
            path: shown,
            kind: io::ErrorKind::Interrupted,
        }))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section replaces or reads whole values, so a poisoned lock is intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One collateral file (`collateral_service = "file:///path.json"`), in either format.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    update: TcbUpdateType,
    loaded: Mutex<Option<LoadedFile>>,
}

#[derive(Debug)]
struct LoadedFile {
    stamp: Stamp,
    bundle: Arc<Bundle>,
    answers: HashMap<CollateralRequest, Arc<DcapCollateral>>,
}

impl FileSource {
    /// A source reading `path`, choosing `update` TCB infos where the file has both.
    pub fn new(path: impl Into<PathBuf>, update: TcbUpdateType) -> Self {
        Self {
            path: path.into(),
            update,
            loaded: Mutex::new(None),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl DcapCollateralSource for FileSource {
    async fn collateral(
        &self,
        request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError> {
        let stamp = stamp(&self.path)?;
        let source = self.path.display().to_string();
        let bundle = {
            let loaded = lock(&self.loaded);
            match loaded.as_ref().filter(|loaded| loaded.stamp == stamp) {
                Some(loaded) => {
                    if let Some(answer) = loaded.answers.get(request) {
                        return Ok(answer.clone());
                    }
                    Some(loaded.bundle.clone())
                }
                None => None,
            }
        };
        let bundle = match bundle {
            Some(bundle) => bundle,
            None => {
                let bundle = Arc::new(load(self.path.clone()).await?);
                *lock(&self.loaded) = Some(LoadedFile {
                    stamp,
                    bundle: bundle.clone(),
                    answers: HashMap::new(),
                });
                bundle
            }
        };
        let answer = Arc::new(bundle.select(request, self.update, &source)?);
        if let Some(loaded) = lock(&self.loaded)
            .as_mut()
            .filter(|loaded| Arc::ptr_eq(&loaded.bundle, &bundle))
        {
            // Only requests the file answers are stored (a made-up FMSPC finds nothing), so
            // this map is bounded by the file's contents.
            loaded.answers.insert(*request, answer.clone());
        }
        Ok(answer)
    }
}

/// A directory of bundle files (module docs).
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    update: TcbUpdateType,
    clock: Arc<dyn Clock>,
    state: Mutex<DirState>,
}

#[derive(Debug, Default)]
struct DirState {
    files: BTreeMap<PathBuf, (Stamp, Parsed)>,
    /// Bumped whenever a file is added, changed or removed.
    generation: u64,
    /// Answers already chosen: valid for one generation and, since the choice depends on the
    /// time, while the time stays between the same candidates' issue and update dates.
    answers: HashMap<CollateralRequest, Chosen>,
}

#[derive(Debug)]
struct Chosen {
    generation: u64,
    from: i64,
    until: i64,
    collateral: Arc<DcapCollateral>,
}

impl DirSource {
    /// A source reading the bundles in `dir`, choosing among them at `clock`'s time.
    pub fn new(dir: impl Into<PathBuf>, update: TcbUpdateType, clock: Arc<dyn Clock>) -> Self {
        Self {
            dir: dir.into(),
            update,
            clock,
            state: Mutex::new(DirState::default()),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `*.json` files of the directory and their stamps, sorted by name.
    fn list(&self) -> Result<Vec<(PathBuf, Stamp)>, CollateralError> {
        let io_error = |err: io::Error| CollateralError::Io {
            path: self.dir.clone(),
            kind: err.kind(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
                files.push(path);
            }
            if files.len() > MAX_DIR_FILES {
                return Err(malformed(
                    &self.dir.display().to_string(),
                    "collateral directory",
                    format!("more than {MAX_DIR_FILES} json files"),
                ));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|path| Ok((stamp(&path)?, path)))
            .map(|result| result.map(|(stamp, path)| (path, stamp)))
            .collect()
    }

    /// The parsed bundles and their generation, re-reading files that changed and forgetting
    /// removed ones.
    async fn bundles(&self) -> Result<(u64, Vec<(PathBuf, Parsed)>), CollateralError> {
        let listed = self.list()?;
        let stale: Vec<PathBuf> = {
            let state = lock(&self.state);
            listed
                .iter()
                .filter(|(path, stamp)| {
                    state
                        .files
                        .get(path)
                        .is_none_or(|(known, _)| known != stamp)
                })
                .map(|(path, _)| path.clone())
                .collect()
        };
        let mut reloaded = Vec::with_capacity(stale.len());
        for path in stale {
            let bundle = load(path.clone())
                .await
                .map(Arc::new)
                .map_err(|err| err.to_string());
            reloaded.push((path, bundle));
        }
        let mut state = lock(&self.state);
        let stamps: HashMap<&PathBuf, &Stamp> = listed.iter().map(|(p, s)| (p, s)).collect();
        let before = state.files.len();
        state.files.retain(|path, _| stamps.contains_key(path));
        if state.files.len() != before || !reloaded.is_empty() {
            state.generation = state.generation.wrapping_add(1);
            state.answers.clear();
        }
        for (path, bundle) in reloaded {
            if let Some(stamp) = stamps.get(&path) {
                state.files.insert(path, (**stamp, bundle));
            }
        }
        let bundles = state
            .files
            .iter()
            .map(|(path, (_, bundle))| (path.clone(), bundle.clone()))
            .collect();
        Ok((state.generation, bundles))
    }

    /// The answer chosen earlier for `request`, if still valid at `now` in `generation`.
    fn chosen(
        &self,
        request: &CollateralRequest,
        generation: u64,
        now: i64,
    ) -> Option<Arc<DcapCollateral>> {
        let state = lock(&self.state);
        let chosen = state.answers.get(request)?;
        (chosen.generation == generation && chosen.from <= now && now < chosen.until)
            .then(|| chosen.collateral.clone())
    }
}

#[async_trait]
impl DcapCollateralSource for DirSource {
    async fn collateral(
        &self,
        request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError> {
        let now = i64::try_from(self.clock.now()).unwrap_or(i64::MAX);
        let source = self.dir.display().to_string();
        let (generation, bundles) = self.bundles().await?;
        if let Some(collateral) = self.chosen(request, generation, now) {
            return Ok(collateral);
        }
        let mut broken = None;
        let mut best: Option<((bool, bool, i64), DcapCollateral)> = None;
        // The choice holds while `now` stays between the same candidates' dates.
        let (mut from, mut until) = (i64::MIN, i64::MAX);
        for (path, bundle) in bundles {
            let bundle = match bundle {
                Ok(bundle) => bundle,
                Err(reason) => {
                    broken.get_or_insert((path, reason));
                    continue;
                }
            };
            let Ok(collateral) = bundle.select(request, self.update, &source) else {
                continue;
            };
            let (issued, next_update) = dates(&collateral);
            for boundary in [issued, next_update] {
                if boundary <= now {
                    from = from.max(boundary);
                } else {
                    until = until.min(boundary);
                }
            }
            let rank = rank(issued, next_update, now);
            if best.as_ref().is_none_or(|(best, _)| rank > *best) {
                best = Some((rank, collateral));
            }
        }
        match (best, broken) {
            (Some((_, collateral)), _) => {
                let collateral = Arc::new(collateral);
                let mut state = lock(&self.state);
                if state.generation == generation {
                    // Only requests some file answers are stored: bounded by the files.
                    state.answers.insert(
                        *request,
                        Chosen {
                            generation,
                            from,
                            until,
                            collateral: collateral.clone(),
                        },
                    );
                }
                Ok(collateral)
            }
            (None, Some((path, reason))) => Err(malformed(
                &path.display().to_string(),
                "collateral bundle",
                reason,
            )),
            (None, None) => Err(IntelCollateralError::NotFound {
                what: "collateral bundle",
                request: *request,
                source_name: source,
            }
            .into()),
        }
    }
}

/// Orders candidate bundles (module docs): current at `now` first, then issued before `now`,
/// then by issue date (latest first among issued ones, earliest first among future ones).
fn rank(issued: i64, next_update: i64, now: i64) -> (bool, bool, i64) {
    let already = issued <= now;
    let current = already && now < next_update;
    (current, already, if already { issued } else { -issued })
}

/// The TCB info's `issueDate` and the collateral's earliest `nextUpdate` (Unix seconds; a
/// date that cannot be read ranks the bundle last).
fn dates(collateral: &DcapCollateral) -> (i64, i64) {
    #[derive(Deserialize)]
    struct Issued {
        #[serde(rename = "issueDate")]
        issue_date: String,
    }
    let issued = serde_json::from_str::<Issued>(&collateral.tcb_info)
        .ok()
        .and_then(|issued| {
            time::OffsetDateTime::parse(
                &issued.issue_date,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })
        .map_or(i64::MIN, |at| at.unix_timestamp());
    (issued, collateral.next_update().unwrap_or(i64::MIN))
}

#[cfg(test)]
mod tests;
