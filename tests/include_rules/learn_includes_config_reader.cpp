// A header private to a higher layer: learning reads client rules files with
// base/toml_section.hpp, not the configuration reader's internals. Must
// fail to compile on the include (CMakeLists.txt, include_rules).
#include "config/config_reader.hpp"
