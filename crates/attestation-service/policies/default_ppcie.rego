# Default appraisal policy for NVIDIA protected PCIe (PPCIE) mode.
#
# The verifier emits a `ppcie` entry only after it has validated the whole GPU and switch
# topology, and each device is appraised in its own submodule; this entry only records that the
# topology is a supported configuration.
package policy

import rego.v1

trust_claims := {
	"executables": 0,
	"hardware": 0,
	"configuration": 2,
	"file-system": 0,
	"instance-identity": 0,
	"runtime-opaque": 0,
	"storage-opaque": 0,
	"sourced-data": 0,
}
