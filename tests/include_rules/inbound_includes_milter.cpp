// The stamping layer is pure functions over header fields and a verifier:
// it knows nothing of the milter protocol, so the milter's header edits are above it.
// Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "milter/header_edits.hpp"
