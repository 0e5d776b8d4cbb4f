//! `query_reference_value(id)`: the Rego builtin through which policies read the RVPS
//! (spec §8.2).
//!
//! A query the RVPS answered with an error fails the evaluation like any policy error. A query
//! that got no answer at all (a remote RVPS that is unreachable or does not answer in time)
//! fails it too, and is also recorded for [`watching_rvps`], so the AS can report the
//! evaluation as [`Error::ReferenceValueProviderUnavailable`](crate::Error) instead of as a
//! failed policy. The engine keeps only the text of an extension's error (regorus formats it
//! into its own diagnostic), hence this side channel rather than a typed error through the
//! policy crate.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use policy::PolicyExtension;
use rvps::ReferenceValueProvider;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::error::RvpsUnavailable;

/// The builtin's name, as upstream policies call it.
pub(crate) const QUERY_REFERENCE_VALUE: &str = "query_reference_value";

/// How long one RVPS query may take before the evaluation fails.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A query that found the reference value provider unavailable.
#[derive(Debug)]
pub(crate) struct Unavailable {
    /// The reference value id queried.
    pub(crate) id: String,
    /// Why the provider counts as unavailable.
    pub(crate) cause: RvpsUnavailable,
}

tokio::task_local! {
    /// The first unavailability met by a `query_reference_value` call in the evaluation that
    /// [`watching_rvps`] runs on this thread.
    static UNAVAILABLE: RefCell<Option<Unavailable>>;
}

/// Runs `evaluate`, a synchronous policy evaluation on the current thread, and returns its
/// result with the first RVPS unavailability that a `query_reference_value` call in it met.
///
/// Once one query found the provider unavailable, later queries of the same evaluation fail
/// at once instead of waiting for it again: the evaluation is failing anyway.
pub(crate) fn watching_rvps<T>(evaluate: impl FnOnce() -> T) -> (T, Option<Unavailable>) {
    UNAVAILABLE.sync_scope(RefCell::new(None), || {
        let result = evaluate();
        let unavailable = UNAVAILABLE
            .try_with(|cell| cell.borrow_mut().take())
            .ok()
            .flatten();
        (result, unavailable)
    })
}

/// Whether the watched evaluation already found the provider unavailable.
fn already_unavailable() -> bool {
    UNAVAILABLE
        .try_with(|cell| cell.borrow().is_some())
        .unwrap_or(false)
}

/// Records `cause` for the watching evaluation (if any; the first one wins) and returns the
/// message that fails the builtin call.
fn unavailable(id: &str, cause: RvpsUnavailable) -> String {
    let message = format!("rvps query for {id:?} failed: {cause}");
    let _unwatched = UNAVAILABLE.try_with(|cell| {
        cell.borrow_mut().get_or_insert_with(|| Unavailable {
            id: id.to_owned(),
            cause,
        });
    });
    message
}

/// The builtin over `rvps`. It returns the stored JSON value, or `null` for an unknown id; an
/// RVPS error or timeout fails the evaluation rather than reading as "no reference value".
///
/// It blocks on the async RVPS, so policies that call it must be evaluated on a blocking
/// thread of a Tokio runtime (`spawn_blocking`), never on an executor thread.
pub(crate) fn query_reference_value(rvps: Arc<dyn ReferenceValueProvider>) -> PolicyExtension {
    query_reference_value_within(rvps, QUERY_TIMEOUT)
}

pub(crate) fn query_reference_value_within(
    rvps: Arc<dyn ReferenceValueProvider>,
    timeout: Duration,
) -> PolicyExtension {
    PolicyExtension {
        name: QUERY_REFERENCE_VALUE.to_owned(),
        nargs: 1,
        func: Arc::new(move |args: Vec<Value>| {
            let [Value::String(id)] = args.as_slice() else {
                return Err("the reference value id must be a string".to_owned());
            };
            if already_unavailable() {
                return Err(format!(
                    "rvps query for {id:?} not sent: the reference value provider is unavailable"
                ));
            }
            let runtime = Handle::try_current()
                .map_err(|_| "no async runtime to query the rvps on".to_owned())?;
            let rvps = Arc::clone(&rvps);
            match runtime.block_on(tokio::time::timeout(timeout, rvps.query(id))) {
                Err(_) => Err(unavailable(id, RvpsUnavailable::NoAnswer { timeout })),
                Ok(Err(err)) => match RvpsUnavailable::classify(err) {
                    Ok(cause) => Err(unavailable(id, cause)),
                    Err(err) => Err(format!("rvps query for {id:?} failed: {err}")),
                },
                Ok(Ok(value)) => Ok(value.unwrap_or(Value::Null)),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;

    /// Answers by id, counting the queries it gets.
    #[derive(Default)]
    struct Fixed {
        queries: AtomicUsize,
    }

    #[async_trait]
    impl ReferenceValueProvider for Fixed {
        async fn register(&self, _message: &str) -> rvps::Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn query(&self, id: &str) -> rvps::Result<Option<Value>> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            match id {
                "svn" => Ok(Some(json!(["1"]))),
                "broken" => Err(rvps::Error::PayloadNotObject),
                "malformed" => Err(rvps::Error::MalformedRecord {
                    name: "malformed".into(),
                    source: serde_json::from_str::<Value>("{").unwrap_err(),
                }),
                "down" => Err(rvps::Error::Unreachable {
                    address: "http://127.0.0.1:1".into(),
                    source: "connection refused".into(),
                }),
                "late" => Err(rvps::Error::TimedOut {
                    address: "http://127.0.0.1:1".into(),
                    timeout: Duration::from_secs(10),
                }),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(None)
                }
                _ => Ok(None),
            }
        }
        async fn delete(&self, _id: &str) -> rvps::Result<bool> {
            Ok(false)
        }
    }

    /// Calls the builtin once per id, all in one watched evaluation; returns each result, what
    /// the watch recorded and how many queries reached the provider.
    async fn watched(ids: &[&str]) -> (Vec<Result<Value, String>>, Option<Unavailable>, usize) {
        let rvps = Arc::new(Fixed::default());
        let extension = query_reference_value_within(rvps.clone(), Duration::from_millis(50));
        let ids: Vec<Value> = ids.iter().map(|id| json!(id)).collect();
        let (results, unavailable) = tokio::task::spawn_blocking(move || {
            watching_rvps(|| {
                ids.into_iter()
                    .map(|id| (extension.func)(vec![id]))
                    .collect::<Vec<_>>()
            })
        })
        .await
        .unwrap();
        (results, unavailable, rvps.queries.load(Ordering::SeqCst))
    }

    async fn call(args: Vec<Value>) -> Result<Value, String> {
        let extension =
            query_reference_value_within(Arc::new(Fixed::default()), Duration::from_millis(50));
        tokio::task::spawn_blocking(move || (extension.func)(args))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn known_id_returns_the_stored_value() {
        assert_eq!(call(vec![json!("svn")]).await, Ok(json!(["1"])));
    }

    #[tokio::test]
    async fn unknown_id_returns_null() {
        assert_eq!(call(vec![json!("nope")]).await, Ok(Value::Null));
        let (results, unavailable, _) = watched(&["nope", "svn"]).await;
        assert_eq!(results, [Ok(Value::Null), Ok(json!(["1"]))]);
        assert!(unavailable.is_none());
    }

    #[tokio::test]
    async fn rvps_errors_fail_the_call() {
        let err = call(vec![json!("broken")]).await.unwrap_err();
        assert!(err.contains("failed"), "{err}");
        let err = call(vec![json!("down")]).await.unwrap_err();
        assert!(
            err.contains("rvps at http://127.0.0.1:1 is unreachable"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn slow_rvps_times_out() {
        let err = call(vec![json!("slow")]).await.unwrap_err();
        assert!(err.contains("did not answer within 50ms"), "{err}");
    }

    #[tokio::test]
    async fn answers_that_are_errors_are_not_unavailability() {
        let (results, unavailable, queries) = watched(&["broken", "malformed"]).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert!(unavailable.is_none(), "{unavailable:?}");
        assert_eq!(queries, 2);
    }

    #[tokio::test]
    async fn an_unreachable_rvps_is_recorded_for_the_evaluation() {
        let (results, unavailable, _) = watched(&["svn", "down"]).await;
        assert_eq!(results[0], Ok(json!(["1"])));
        let unavailable = unavailable.unwrap();
        assert_eq!(unavailable.id, "down");
        assert!(
            matches!(
                unavailable.cause,
                RvpsUnavailable::Provider(rvps::Error::Unreachable { .. })
            ),
            "{:?}",
            unavailable.cause
        );
    }

    #[tokio::test]
    async fn timeouts_of_the_rvps_and_of_the_query_are_recorded() {
        let (_, unavailable, _) = watched(&["late"]).await;
        assert!(matches!(
            unavailable.unwrap().cause,
            RvpsUnavailable::Provider(rvps::Error::TimedOut { .. })
        ));
        let (_, unavailable, _) = watched(&["slow"]).await;
        let unavailable = unavailable.unwrap();
        assert_eq!(unavailable.id, "slow");
        assert!(matches!(
            unavailable.cause,
            RvpsUnavailable::NoAnswer { timeout } if timeout == Duration::from_millis(50)
        ));
    }

    #[tokio::test]
    async fn after_unavailability_later_queries_fail_without_waiting() {
        let (results, unavailable, queries) = watched(&["slow", "slow", "svn"]).await;
        assert_eq!(queries, 1);
        assert!(results.iter().all(Result::is_err), "{results:?}");
        let skipped = results[2].as_ref().unwrap_err();
        assert!(skipped.contains("not sent"), "{skipped}");
        // the first failure is the one reported
        assert_eq!(unavailable.unwrap().id, "slow");
        // a new evaluation starts clean
        let (results, unavailable, _) = watched(&["svn"]).await;
        assert_eq!(results, [Ok(json!(["1"]))]);
        assert!(unavailable.is_none());
    }

    #[tokio::test]
    async fn non_string_id_is_an_error() {
        assert!(call(vec![json!(1)]).await.is_err());
        assert_eq!(query_reference_value(Arc::new(Fixed::default())).nargs, 1);
    }
}
