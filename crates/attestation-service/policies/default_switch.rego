# Default appraisal policy for NVSwitches attested alongside NVIDIA GPUs.
#
# Claims start at values that fail closed and are raised only from the switch's own checks
# (attestation report and RIM verification) and registered reference values.
package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 36

default file_system := 0

default instance_identity := 0

default runtime_opaque := 0

default storage_opaque := 0

default sourced_data := 0

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
	"file-system": file_system,
	"instance-identity": instance_identity,
	"runtime-opaque": runtime_opaque,
	"storage-opaque": storage_opaque,
	"sourced-data": sourced_data,
}

cert_chain_ok(chain) if {
	chain["x-nvidia-cert-ocsp-status"] == "good"
	chain["x-nvidia-cert-status"] == "valid"
}

##### sample device (test only)

# Upstream reads this from a `data.reference` document that the attestation service no longer
# supplies, so the rule never applies; it is kept so results match upstream.
hardware := 2 if {
	input.sampledevice.svn in data.reference.device_svn
}

##### NVIDIA NVSwitch

hardware := 2 if {
	switch := input.nvidia
	cert_chain_ok(switch["x-nvidia-switch-attestation-report-cert-chain"])
	switch["x-nvidia-switch-attestation-report-cert-chain-fwid-match"] == true
	switch["x-nvidia-switch-attestation-report-parsed"] == true
	switch["x-nvidia-switch-attestation-report-signature-verified"] == true
	switch["x-nvidia-switch-arch-check"] == true
}

configuration := 2 if {
	switch := input.nvidia
	switch.secboot == true
	switch.dbgstat == "disabled"
	switch["x-nvidia-switch-bios-version"] in query_reference_value("allowed_switch_bios_versions")
} else := 3 if {
	switch := input.nvidia
	switch.secboot == true
	switch.dbgstat == "disabled"
}

executables := 3 if {
	switch := input.nvidia
	cert_chain_ok(switch["x-nvidia-switch-bios-rim-cert-chain"])
	switch["x-nvidia-switch-bios-rim-fetched"] == true
	switch["x-nvidia-switch-bios-rim-measurements-available"] == true
	switch["x-nvidia-switch-bios-rim-schema-validated"] == true
	switch["x-nvidia-switch-bios-rim-signature-verified"] == true
	switch["x-nvidia-switch-bios-rim-version-match"] == true
	switch.measres == "success"
}
