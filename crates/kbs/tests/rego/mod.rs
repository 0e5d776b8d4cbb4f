//! Rego text shared by the process and the in-process tests (included by `common` and by the
//! in-process files that need it).

#![allow(dead_code)]

/// An attestation policy whose EAR trust vector takes `executables`, `hardware` and
/// `configuration` from `rules` (Rego rules assigning them), each otherwise at its
/// not-affirming default (33, 97, 36), and every other claim at 0 (no claim): the sample TEE
/// or device is affirming exactly when `rules` set all three to affirming values.
pub fn trust_vector_policy(rules: &str) -> String {
    format!(
        r#"package policy
import rego.v1

default executables := 33
default hardware := 97
default configuration := 36

{rules}
trust_claims := {{
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
	"file-system": 0,
	"instance-identity": 0,
	"runtime-opaque": 0,
	"storage-opaque": 0,
	"sourced-data": 0,
}}
"#
    )
}

/// A resource policy that allows a read only when every line of `conditions` (Rego
/// expressions, one a line) holds.
pub fn allow_only_if(conditions: &[&str]) -> String {
    let body: String = conditions.iter().map(|c| format!("\t{c}\n")).collect();
    format!("package policy\nimport rego.v1\n\ndefault allow := false\n\nallow if {{\n{body}}}\n")
}
