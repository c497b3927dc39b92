// The control for the include_rules cases: what the keystore may see —
// its own folder, its public headers, core's exported and public headers,
// base — compiles, so a failing case fails for the rule and not for a
// broken view (CMakeLists.txt, include_rules).
#include "base/ascii.hpp"
#include "core/openssl_objects.hpp"
#include "core/openssl_util.hpp"
#include "keystore/files.hpp"
#include "ribbon/settings.hpp"
#include "ribbon/signer_pool.hpp"
