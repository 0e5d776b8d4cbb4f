# The KBS default: resources of the `resource` plugin go to any attested TEE except the
# software-only `sample` TEE, whose evidence proves nothing.
package policy

import rego.v1

default allow := false

allow if {
	data.plugin == "resource"
	not input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
