// The stamping layer is given its settings (authserv-id, trust) by the
// daemon; it never reads ribbon.toml, so the configuration is above it.
// Must fail to compile on the include (CMakeLists.txt, include_rules).
#include "ribbon/config.hpp"
