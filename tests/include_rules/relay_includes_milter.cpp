// Front ends do not use each other: what both daemons need is in daemon/.
// Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "milter/milter.hpp"
