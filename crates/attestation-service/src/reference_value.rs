//! `query_reference_value(id)`: the Rego builtin through which policies read the RVPS
//! (spec §8.2).

use std::sync::Arc;
use std::time::Duration;

use policy::PolicyExtension;
use rvps::ReferenceValueProvider;
use serde_json::Value;
use tokio::runtime::Handle;

/// The builtin's name, as upstream policies call it.
pub(crate) const QUERY_REFERENCE_VALUE: &str = "query_reference_value";

/// How long one RVPS query may take before the evaluation fails.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The builtin over `rvps`. It returns the stored JSON value, or `null` for an unknown id; an
/// RVPS error or timeout fails the evaluation rather than reading as "no reference value".
///
/// It blocks on the async RVPS, so policies that call it must be evaluated on a blocking
/// thread of a Tokio runtime (`spawn_blocking`), never on an executor thread.
pub(crate) fn query_reference_value(rvps: Arc<dyn ReferenceValueProvider>) -> PolicyExtension {
    query_reference_value_within(rvps, QUERY_TIMEOUT)
}

fn query_reference_value_within(
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
            let runtime = Handle::try_current()
                .map_err(|_| "no async runtime to query the rvps on".to_owned())?;
            let rvps = Arc::clone(&rvps);
            let value = runtime
                .block_on(tokio::time::timeout(timeout, rvps.query(id)))
                .map_err(|_| format!("rvps query for {id:?} timed out"))?
                .map_err(|err| format!("rvps query for {id:?} failed: {err}"))?;
            Ok(value.unwrap_or(Value::Null))
        }),
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use super::*;

    struct Fixed;

    #[async_trait]
    impl ReferenceValueProvider for Fixed {
        async fn register(&self, _message: &str) -> rvps::Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn query(&self, id: &str) -> rvps::Result<Option<Value>> {
            match id {
                "svn" => Ok(Some(json!(["1"]))),
                "broken" => Err(rvps::Error::PayloadNotObject),
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

    async fn call(args: Vec<Value>) -> Result<Value, String> {
        let extension = query_reference_value_within(Arc::new(Fixed), Duration::from_millis(50));
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
    }

    #[tokio::test]
    async fn rvps_errors_fail_the_call() {
        let err = call(vec![json!("broken")]).await.unwrap_err();
        assert!(err.contains("failed"), "{err}");
    }

    #[tokio::test]
    async fn slow_rvps_times_out() {
        let err = call(vec![json!("slow")]).await.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn non_string_id_is_an_error() {
        assert!(call(vec![json!(1)]).await.is_err());
        assert_eq!(query_reference_value(Arc::new(Fixed)).nargs, 1);
    }
}
