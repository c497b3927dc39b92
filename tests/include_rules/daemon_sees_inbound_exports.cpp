// The control for the include_rules cases on the stamping layer: what it
// exports, and the continuity and lookalike vocabulary it formats, compile
// from the daemon's view (CMakeLists.txt, include_rules).
#include "inbound/assessment.hpp"
#include "inbound/forged.hpp"
#include "inbound/stamp.hpp"
#include "ribbon/continuity.hpp"
#include "ribbon/lookalike.hpp"
