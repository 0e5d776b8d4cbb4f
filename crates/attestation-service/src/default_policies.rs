//! The appraisal policies the AS ships and seeds at start-up (spec §6).

/// `(id, Rego text)` of every shipped policy. They are stored only if absent, so an
/// administrator's replacement survives restarts.
pub(crate) const DEFAULT_POLICIES: [(&str, &str); 4] = [
    ("default_cpu", include_str!("../policies/default_cpu.rego")),
    ("default_gpu", include_str!("../policies/default_gpu.rego")),
    (
        "default_switch",
        include_str!("../policies/default_switch.rego"),
    ),
    (
        "default_ppcie",
        include_str!("../policies/default_ppcie.rego"),
    ),
];

/// The shipped text of `id`, if it is one of the defaults.
pub(crate) fn shipped(id: &str) -> Option<&'static str> {
    DEFAULT_POLICIES
        .iter()
        .find(|(shipped_id, _)| *shipped_id == id)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use policy::{CompiledPolicy, PolicyExtension, RuleValue};
    use serde_json::{Value, json};

    use super::*;

    /// Compiles `id` with a `query_reference_value` that answers from `values`.
    fn compile(id: &str, values: Value) -> CompiledPolicy {
        let values: HashMap<String, Value> = serde_json::from_value(values).unwrap();
        let extension = PolicyExtension {
            name: "query_reference_value".into(),
            nargs: 1,
            func: Arc::new(move |args: Vec<Value>| {
                let id = args[0].as_str().ok_or("id must be a string")?;
                Ok(values.get(id).cloned().unwrap_or(Value::Null))
            }),
        };
        CompiledPolicy::compile(id, shipped(id).unwrap(), &[extension]).unwrap()
    }

    fn trust_claims(policy: &CompiledPolicy, input: &Value) -> Value {
        match policy
            .eval_rule("data.policy.trust_claims", input, None)
            .unwrap()
        {
            RuleValue::Value(value) => value,
            RuleValue::Undefined => panic!("trust_claims undefined"),
        }
    }

    fn vector(executables: i64, hardware: i64, configuration: i64) -> Value {
        json!({
            "executables": executables,
            "hardware": hardware,
            "configuration": configuration,
            "file-system": 0,
            "instance-identity": 0,
            "runtime-opaque": 0,
            "storage-opaque": 0,
            "sourced-data": 0,
        })
    }

    fn sample_input() -> Value {
        json!({
            "sample": {
                "svn": "1",
                "launch_digest": "abcde",
                "platform_version": {"major": 1, "minor": 4},
                "debug": false
            }
        })
    }

    fn sample_reference_values() -> Value {
        json!({
            "svn": ["1"],
            "launch_digest": ["abcde"],
            "major_version": 1,
            "minimum_minor_version": 1
        })
    }

    #[test]
    fn every_default_compiles() {
        for (id, _) in DEFAULT_POLICIES {
            compile(id, json!({}));
        }
        assert_eq!(shipped("default_dcu"), None);
    }

    #[test]
    fn cpu_without_reference_values_fails_closed() {
        let policy = compile("default_cpu", json!({}));
        assert_eq!(trust_claims(&policy, &sample_input()), vector(33, 97, 2));
        // An unknown platform gets the defaults everywhere.
        assert_eq!(
            trust_claims(&policy, &json!({"csv": {}})),
            vector(33, 97, 36)
        );
    }

    #[test]
    fn cpu_affirms_sample_matching_reference_values() {
        let policy = compile("default_cpu", sample_reference_values());
        assert_eq!(trust_claims(&policy, &sample_input()), vector(3, 2, 2));
    }

    #[test]
    fn cpu_sample_hardware_needs_every_reference_value() {
        let mut values = sample_reference_values();
        values["minimum_minor_version"] = json!(5);
        let policy = compile("default_cpu", values);
        assert_eq!(trust_claims(&policy, &sample_input()), vector(3, 97, 2));

        let mut values = sample_reference_values();
        values["svn"] = json!(["2"]);
        let policy = compile("default_cpu", values);
        assert_eq!(trust_claims(&policy, &sample_input()), vector(3, 97, 2));
    }

    #[test]
    fn cpu_sample_debug_is_not_configuration_approved() {
        let policy = compile("default_cpu", sample_reference_values());
        let mut input = sample_input();
        input["sample"]["debug"] = json!(true);
        assert_eq!(trust_claims(&policy, &input), vector(3, 2, 36));
    }

    #[test]
    fn cpu_snp_rows() {
        let input = json!({"snp": {
            "measurement": "aa",
            "reported_tcb_bootloader": 3, "reported_tcb_microcode": 115,
            "reported_tcb_snp": 8, "reported_tcb_tee": 0,
            "policy_debug_allowed": false, "policy_migrate_ma": false,
            "platform_smt_enabled": true, "platform_tsme_enabled": false,
            "policy_abi_major": 0, "policy_abi_minor": 31,
            "policy_single_socket": false, "policy_smt_allowed": true
        }});
        let policy = compile("default_cpu", json!({}));
        assert_eq!(trust_claims(&policy, &input), vector(33, 97, 3));
        let policy = compile(
            "default_cpu",
            json!({
                "snp_launch_measurement": ["aa"],
                "snp_bootloader": [3], "snp_microcode": [115], "snp_snp_svn": [8], "snp_tee_svn": [0],
                "snp_smt_enabled": true, "snp_tsme_enabled": false,
                "snp_guest_abi_major": 0, "snp_guest_abi_minor": 31,
                "snp_single_socket": false, "snp_smt_allowed": true
            }),
        );
        assert_eq!(trust_claims(&policy, &input), vector(3, 2, 2));
    }

    fn tdx_input() -> Value {
        json!({"tdx": {
            "quote": {
                "header": {"tee_type": "81000000", "vendor_id": "939a7233f79c4ca9940a0db3957f0607"},
                "body": {"mr_td": "td", "rtmr_1": "r1", "rtmr_2": "r2", "xfam": "e7"}
            },
            "td_attributes": {"debug": false},
            "tcb_status": "UpToDate",
            "collateral_expiration_status": "0",
            "uefi_event_logs": [
                {"type_name": "EV_EFI_BOOT_SERVICES_APPLICATION",
                 "details": {"device_paths": ["PciRoot(0x0)", "File(kernel)"]},
                 "digests": [{"alg": "SHA-384", "digest": "kernel"}]},
                {"type_name": "EV_EVENT_TAG",
                 "details": {"string": "LOADED_IMAGE::LoadOptions"},
                 "digests": [{"alg": "SHA-384", "digest": "cmdline"}]}
            ]
        }})
    }

    #[test]
    fn cpu_tdx_rows() {
        let rvs = json!({
            "rtmr_1": ["r1"], "rtmr_2": ["r2"], "mr_td": ["td"], "xfam": ["e7"],
            "tdvfkernel": ["kernel"], "tdvfkernelparams": "cmdline"
        });
        let policy = compile("default_cpu", rvs.clone());
        assert_eq!(trust_claims(&policy, &tdx_input()), vector(3, 2, 2));

        // No TDVF kernel events (GRUB boot): the RTMRs alone give 4.
        let mut input = tdx_input();
        input["tdx"]["uefi_event_logs"] = json!([]);
        assert_eq!(trust_claims(&policy, &input), vector(4, 2, 2));

        let mut input = tdx_input();
        input["tdx"]["tcb_status"] = json!("OutOfDate");
        input["tdx"]["td_attributes"]["debug"] = json!(true);
        assert_eq!(trust_claims(&policy, &input), vector(3, 97, 36));

        let policy = compile("default_cpu", json!({}));
        assert_eq!(trust_claims(&policy, &tdx_input()), vector(33, 97, 36));
    }

    #[test]
    fn cpu_azure_rows() {
        let snp = json!({"az-snp-vtpm": {
            "measurement": "bQ==", "tpm": {"pcr11": "p11"},
            "reported_tcb_bootloader": "3", "reported_tcb_microcode": "115",
            "reported_tcb_snp": "8", "reported_tcb_tee": "0",
            "platform_smt_enabled": "true", "platform_tsme_enabled": "false",
            "policy_abi_major": "0", "policy_abi_minor": "31",
            "policy_single_socket": "false", "policy_smt_allowed": "true"
        }});
        let policy = compile(
            "default_cpu",
            json!({
                "measurement": ["bQ=="], "snp_pcr11": ["p11"],
                "tcb_bootloader": ["3"], "tcb_microcode": ["115"], "tcb_snp": ["8"], "tcb_tee": ["0"],
                "smt_enabled": ["true"], "tsme_enabled": ["false"], "abi_major": ["0"],
                "abi_minor": ["31"], "single_socket": ["false"], "smt_allowed": ["true"]
            }),
        );
        assert_eq!(trust_claims(&policy, &snp), vector(3, 2, 2));

        let tdx = json!({"az-tdx-vtpm": {
            "quote": {
                "header": {"tee_type": "81000000", "vendor_id": "939a7233f79c4ca9940a0db3957f0607"},
                "body": {"mr_td": "td", "xfam": "e7"}
            },
            "tcb_status": "UpToDate",
            "tpm": {"pcr11": "p11"}
        }});
        let policy = compile(
            "default_cpu",
            json!({"tdx_pcr11": ["p11"], "mr_td": ["td"], "xfam": ["e7"]}),
        );
        assert_eq!(trust_claims(&policy, &tdx), vector(3, 2, 2));
    }

    #[test]
    fn cpu_tpm_and_se_rows() {
        let policy = compile(
            "default_cpu",
            json!({"tpm_pcr11": ["p"], "trusted_aks": ["ak"]}),
        );
        assert_eq!(
            trust_claims(&policy, &json!({"tpm": {"pcr11": "p", "ak_public": "ak"}})),
            vector(3, 2, 0)
        );
        assert_eq!(
            trust_claims(
                &policy,
                &json!({"tpm": {"pcr11": "p", "ak_public": "other"}})
            ),
            vector(33, 2, 0)
        );
        assert_eq!(
            trust_claims(&policy, &json!({"se": {"cuid": "00"}})),
            vector(3, 2, 2)
        );
    }

    #[test]
    fn cpu_extension_lists_validated_container_identities() {
        let policy = compile("default_cpu", json!({}));
        let mut input = sample_input();
        input["init_data_claims"] = json!({"agent_policy_claims": {"containers": [
            {"OCI": {"Annotations": {}, "Process": {"User": {"UID": 65535}}}},
            {"OCI": {"Annotations": {"io.kubernetes.cri.image-name": "bitnami/nginx:latest"},
                     "Process": {"User": {"UID": 1001}}}}
        ]}});
        let extensions = policy
            .eval_rule("data.policy.extensions", &input, None)
            .unwrap();
        assert_eq!(
            extensions,
            RuleValue::Value(json!([{
                "name": "ear.trustee.identifiers",
                "key": -18,
                "value": {"validated": {
                    "container_images": ["bitnami/nginx:latest"],
                    "container_uids": [65535, 1001]
                }}
            }]))
        );
        let extensions = policy
            .eval_rule("data.policy.extensions", &sample_input(), None)
            .unwrap();
        assert_eq!(
            extensions,
            RuleValue::Value(json!([{
                "name": "ear.trustee.identifiers", "key": -18, "value": {"validated": {}}
            }]))
        );
    }

    fn nvidia_gpu() -> Value {
        let chain = json!({"x-nvidia-cert-ocsp-status": "good", "x-nvidia-cert-status": "valid"});
        json!({"nvidia": {
            "x-nvidia-gpu-attestation-report-cert-chain": chain,
            "x-nvidia-gpu-attestation-report-cert-chain-fwid-match": true,
            "x-nvidia-gpu-attestation-report-parsed": true,
            "x-nvidia-gpu-attestation-report-signature-verified": true,
            "x-nvidia-gpu-arch-check": true,
            "secboot": true,
            "dbgstat": "disabled",
            "x-nvidia-gpu-vbios-version": "96.00.9F.00.04",
            "x-nvidia-gpu-driver-version": "550.90.07",
            "x-nvidia-gpu-driver-rim-cert-chain": chain,
            "x-nvidia-gpu-vbios-rim-cert-chain": chain,
            "x-nvidia-gpu-driver-rim-fetched": true,
            "x-nvidia-gpu-driver-rim-measurements-available": true,
            "x-nvidia-gpu-driver-rim-schema-validated": true,
            "x-nvidia-gpu-driver-rim-signature-verified": true,
            "x-nvidia-gpu-driver-rim-version-match": true,
            "x-nvidia-gpu-vbios-rim-fetched": true,
            "x-nvidia-gpu-vbios-rim-measurements-available": true,
            "x-nvidia-gpu-vbios-rim-schema-validated": true,
            "x-nvidia-gpu-vbios-rim-signature-verified": true,
            "x-nvidia-gpu-vbios-rim-version-match": true,
            "measres": "success"
        }})
    }

    #[test]
    fn gpu_rows() {
        let policy = compile("default_gpu", json!({}));
        assert_eq!(
            trust_claims(&policy, &json!({"sampledevice": {"svn": "2"}})),
            vector(33, 97, 36)
        );
        assert_eq!(trust_claims(&policy, &nvidia_gpu()), vector(3, 2, 3));
        let mut input = nvidia_gpu();
        input["nvidia"]["x-nvidia-gpu-attestation-report-cert-chain"]["x-nvidia-cert-status"] =
            json!("revoked");
        input["nvidia"]["measres"] = json!("fail");
        assert_eq!(trust_claims(&policy, &input), vector(33, 97, 3));

        let policy = compile(
            "default_gpu",
            json!({
                "allowed_vbios_versions": ["96.00.9F.00.04"],
                "allowed_driver_versions": ["550.90.07"]
            }),
        );
        assert_eq!(trust_claims(&policy, &nvidia_gpu()), vector(3, 2, 2));
    }

    #[test]
    fn switch_rows() {
        let chain = json!({"x-nvidia-cert-ocsp-status": "good", "x-nvidia-cert-status": "valid"});
        let input = json!({"nvidia": {
            "x-nvidia-switch-attestation-report-cert-chain": chain,
            "x-nvidia-switch-attestation-report-cert-chain-fwid-match": true,
            "x-nvidia-switch-attestation-report-parsed": true,
            "x-nvidia-switch-attestation-report-signature-verified": true,
            "x-nvidia-switch-arch-check": true,
            "secboot": true,
            "dbgstat": "disabled",
            "x-nvidia-switch-bios-version": "96.10.6D.00.01",
            "x-nvidia-switch-bios-rim-cert-chain": chain,
            "x-nvidia-switch-bios-rim-fetched": true,
            "x-nvidia-switch-bios-rim-measurements-available": true,
            "x-nvidia-switch-bios-rim-schema-validated": true,
            "x-nvidia-switch-bios-rim-signature-verified": true,
            "x-nvidia-switch-bios-rim-version-match": true,
            "measres": "success"
        }});
        let policy = compile("default_switch", json!({}));
        assert_eq!(trust_claims(&policy, &input), vector(3, 2, 3));
        let policy = compile(
            "default_switch",
            json!({"allowed_switch_bios_versions": ["96.10.6D.00.01"]}),
        );
        assert_eq!(trust_claims(&policy, &input), vector(3, 2, 2));
        assert_eq!(
            trust_claims(&policy, &json!({"sampledevice": {"svn": "2"}})),
            vector(33, 97, 36)
        );
    }

    #[test]
    fn ppcie_is_fixed() {
        let policy = compile("default_ppcie", json!({}));
        assert_eq!(
            trust_claims(&policy, &json!({"nvidia": {}})),
            vector(0, 0, 2)
        );
    }
}
