//! A policy parsed once into a prepared engine and evaluated on clones of it.

use std::fmt;
use std::sync::Arc;

use regorus::Engine;

use crate::error::{Error, Result};

/// A host function callable from Rego, e.g. `query_reference_value(id)` (AS spec §8.2).
///
/// The function receives the arguments as JSON and returns JSON; an `Err` fails the whole
/// evaluation with that message.
#[derive(Clone)]
pub struct PolicyExtension {
    /// The name the policy calls.
    pub name: String,
    /// Exact number of arguments.
    pub nargs: u8,
    /// The implementation. It runs on the evaluating thread, so blocking work belongs in a
    /// `spawn_blocking` evaluation, as upstream does.
    pub func: ExtensionFn,
}

/// The signature of a [`PolicyExtension`] implementation.
pub type ExtensionFn = Arc<
    dyn Fn(Vec<serde_json::Value>) -> std::result::Result<serde_json::Value, String> + Send + Sync,
>;

impl fmt::Debug for PolicyExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyExtension")
            .field("name", &self.name)
            .field("nargs", &self.nargs)
            .finish_non_exhaustive()
    }
}

/// The result of evaluating one rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    /// The rule exists but produced no value for this input (no body matched, no default).
    Undefined,
    /// The rule's value. Rego sets become JSON arrays.
    Value(serde_json::Value),
}

/// An `input` document converted once into the engine's representation, to be evaluated many
/// times: e.g. the claims of a token verified once and presented on every resource request.
///
/// Converting a JSON document is a deep copy; evaluating with a `PolicyInput` shares it instead
/// (the engine's values are reference counted), so repeated evaluations skip that copy.
#[derive(Clone)]
pub struct PolicyInput(regorus::Value);

impl PolicyInput {
    /// Converts `input`.
    pub fn new(input: &serde_json::Value) -> Self {
        Self(regorus::Value::from(input.clone()))
    }

    /// The document as JSON again (a conversion: not for the request path).
    pub fn to_json(&self) -> Result<serde_json::Value> {
        to_json(&self.0).map_err(|message| Error::Evaluation {
            rule: "input".to_owned(),
            message,
        })
    }
}

impl fmt::Debug for PolicyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Inputs are attestation claims: no need to print them wherever this is debugged.
        f.debug_struct("PolicyInput").finish_non_exhaustive()
    }
}

/// A Rego module compiled once, ready to evaluate many times.
#[derive(Clone)]
pub struct CompiledPolicy {
    id: String,
    engine: Engine,
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

// regorus reports a missing rule only through this message (0.14, `canonical_rule_path`);
// `missing_rule_is_its_own_error` pins it.
const NOT_A_RULE_PATH: &str = "not a valid rule path";
// A path no real policy defines, evaluated once to make the engine run its analysis at compile
// time. A policy that did define it would merely have that rule evaluated once here.
const PREPARE_PROBE: &str = "data.__policy_prepare_probe__.__probe__";

impl CompiledPolicy {
    /// Parses and analyses `rego` (Rego v1 syntax: rule bodies need `if`; `import rego.v1`
    /// and `import future.keywords.*` are accepted) and registers `extensions`.
    pub fn compile(id: &str, rego: &str, extensions: &[PolicyExtension]) -> Result<Self> {
        let compile_error = |e: anyhow::Error| Error::Compile {
            id: id.to_owned(),
            message: e.to_string(),
        };
        let mut engine = Engine::new();
        // regorus 0.14 defaults to Rego v1, as upstream's 0.11 did; say so in case that changes.
        engine.set_rego_v0(false);
        for extension in extensions {
            register(&mut engine, extension)?;
        }
        engine
            .add_policy(format!("{id}.rego"), rego.to_owned())
            .map_err(compile_error)?;
        // Evaluating a path that cannot exist runs the analysis once (scheduling, function and
        // import resolution), so analysis errors surface here and clones start prepared.
        match engine.eval_rule(PREPARE_PROBE.to_owned()) {
            Err(e) if e.to_string() == NOT_A_RULE_PATH => {}
            Err(e) => return Err(compile_error(e)),
            Ok(_) => {}
        }
        Ok(Self {
            id: id.to_owned(),
            engine,
        })
    }

    /// The policy id given at compile time.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Evaluates `rule` (e.g. `data.policy.allow`) with `input` and an optional `data` document
    /// (which must be an object), on a clone of the compiled engine.
    ///
    /// Supplying `data` makes the engine re-run its analysis on the clone (not the parse).
    pub fn eval_rule(
        &self,
        rule: &str,
        input: &serde_json::Value,
        data: Option<&serde_json::Value>,
    ) -> Result<RuleValue> {
        self.eval_rule_with(rule, &PolicyInput::new(input), data)
    }

    /// Evaluates `rule` like [`eval_rule`](Self::eval_rule), with an `input` converted
    /// before.
    pub fn eval_rule_with(
        &self,
        rule: &str,
        input: &PolicyInput,
        data: Option<&serde_json::Value>,
    ) -> Result<RuleValue> {
        let mut engine = self.engine_for(rule, input, data)?;
        eval_on(&mut engine, rule)
    }

    /// Evaluates each of `rules` with the same `input` and `data` on one clone of the compiled
    /// engine, converting `input` (and `data`) once: the same results as one
    /// [`eval_rule`](Self::eval_rule) per rule, for about the cost of one when the rules are
    /// cheap. Each rule is evaluated from a clean state (the engine drops computed values
    /// between rules), so one rule's outcome never depends on another having run.
    ///
    /// The outer error is one that every rule would have had (`data` not an object or
    /// refused); the inner results are per rule, in order, so a missing rule is
    /// [`Error::RuleNotFound`] for that rule alone.
    pub fn eval_rules<const N: usize>(
        &self,
        rules: [&str; N],
        input: &serde_json::Value,
        data: Option<&serde_json::Value>,
    ) -> Result<[Result<RuleValue>; N]> {
        let name = rules.first().copied().unwrap_or_default();
        let mut engine = self.engine_for(name, &PolicyInput::new(input), data)?;
        Ok(rules.map(|rule| eval_on(&mut engine, rule)))
    }

    /// A clone of the compiled engine with `input` and `data` set; `rule` names the evaluation
    /// in errors.
    fn engine_for(
        &self,
        rule: &str,
        input: &PolicyInput,
        data: Option<&serde_json::Value>,
    ) -> Result<Engine> {
        let mut engine = self.engine.clone();
        engine.set_input(input.0.clone());
        if let Some(data) = data {
            if !data.is_object() {
                return Err(Error::DataNotObject);
            }
            engine
                .add_data(regorus::Value::from(data.clone()))
                .map_err(|e| Error::Evaluation {
                    rule: rule.to_owned(),
                    message: e.to_string(),
                })?;
        }
        Ok(engine)
    }
}

/// Evaluates `rule` on a prepared engine; regorus resets its evaluation state first.
fn eval_on(engine: &mut Engine, rule: &str) -> Result<RuleValue> {
    let value = engine.eval_rule(rule.to_owned()).map_err(|e| {
        let message = e.to_string();
        if message == NOT_A_RULE_PATH {
            Error::RuleNotFound {
                rule: rule.to_owned(),
            }
        } else {
            Error::Evaluation {
                rule: rule.to_owned(),
                message,
            }
        }
    })?;
    if value == regorus::Value::Undefined {
        return Ok(RuleValue::Undefined);
    }
    to_json(&value)
        .map(RuleValue::Value)
        .map_err(|message| Error::Evaluation {
            rule: rule.to_owned(),
            message,
        })
}

fn register(engine: &mut Engine, extension: &PolicyExtension) -> Result<()> {
    let func = Arc::clone(&extension.func);
    let name = extension.name.clone();
    engine
        .add_extension(
            extension.name.clone(),
            extension.nargs,
            Box::new(move |args: Vec<regorus::Value>| {
                let args = args
                    .iter()
                    .map(to_json)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)?;
                let result = func(args)
                    .map_err(|message| anyhow::anyhow!("extension {name} failed: {message}"))?;
                Ok(regorus::Value::from(result))
            }),
        )
        .map_err(|e| Error::Extension {
            name: extension.name.clone(),
            message: e.to_string(),
        })
}

fn to_json(value: &regorus::Value) -> std::result::Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|e| format!("value is not representable as json: {e}"))
}
