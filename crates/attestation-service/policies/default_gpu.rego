# Default appraisal policy for GPUs attested alongside a CPU TEE.
#
# Claims start at values that fail closed and are raised only from the device's own checks
# (NVIDIA attestation report and RIM verification) and registered reference values.
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
# supplies, so the rule never applies; it is kept so results match upstream. Deployments that
# want the sample device affirmed upload their own `default_gpu`.
hardware := 2 if {
	input.sampledevice.svn in data.reference.device_svn
}

##### NVIDIA GPU

hardware := 2 if {
	gpu := input.nvidia
	cert_chain_ok(gpu["x-nvidia-gpu-attestation-report-cert-chain"])
	gpu["x-nvidia-gpu-attestation-report-cert-chain-fwid-match"] == true
	gpu["x-nvidia-gpu-attestation-report-parsed"] == true
	gpu["x-nvidia-gpu-attestation-report-signature-verified"] == true
	gpu["x-nvidia-gpu-arch-check"] == true
}

configuration := 2 if {
	gpu := input.nvidia
	gpu.secboot == true
	gpu.dbgstat == "disabled"
	gpu["x-nvidia-gpu-vbios-version"] in query_reference_value("allowed_vbios_versions")
	gpu["x-nvidia-gpu-driver-version"] in query_reference_value("allowed_driver_versions")
} else := 3 if {
	gpu := input.nvidia
	gpu.secboot == true
	gpu.dbgstat == "disabled"
}

executables := 3 if {
	gpu := input.nvidia
	cert_chain_ok(gpu["x-nvidia-gpu-driver-rim-cert-chain"])
	cert_chain_ok(gpu["x-nvidia-gpu-vbios-rim-cert-chain"])
	gpu["x-nvidia-gpu-driver-rim-fetched"] == true
	gpu["x-nvidia-gpu-driver-rim-measurements-available"] == true
	gpu["x-nvidia-gpu-driver-rim-schema-validated"] == true
	gpu["x-nvidia-gpu-driver-rim-signature-verified"] == true
	gpu["x-nvidia-gpu-driver-rim-version-match"] == true
	gpu["x-nvidia-gpu-vbios-rim-fetched"] == true
	gpu["x-nvidia-gpu-vbios-rim-measurements-available"] == true
	gpu["x-nvidia-gpu-vbios-rim-schema-validated"] == true
	gpu["x-nvidia-gpu-vbios-rim-signature-verified"] == true
	gpu["x-nvidia-gpu-vbios-rim-version-match"] == true
	gpu.measres == "success"
}
