// config_reader.hpp — what the files reading ribbon.toml's sections share
// (config.cpp, config_relay.cpp, config_learn.cpp): the strict table reader
// (base/toml_section.hpp) and the readers and writers of sections used by
// more than one of them. Private to the configuration reader.
#pragma once

#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "base/toml_section.hpp"
#include "ribbon/config.hpp"

namespace ribbon::cfg {

using base::ConfigError;
using base::Section;
using base::parse_document;
using base::sub_table;

// on_internal_error, on_no_key and on_bad_message of a daemon's section.
void read_actions(Section& s, FailureActions& a);

// A list of lower-case domain names (opaque_for).
std::vector<std::string> read_domains(Section& s, const toml::table& t, std::string_view key);

// [relay] (config_relay.cpp).
void read_relay(std::string_view origin, const toml::table& t, RelaySettings& r);
std::string relay_toml(const RelaySettings& r);

// [store] and [learn] (config_learn.cpp).
void read_store(std::string_view origin, const toml::table& t, StoreSettings& st);
void read_learn(std::string_view origin, const toml::table& t, LearnSettings& l);
std::string store_learn_toml(const StoreSettings& st, const LearnSettings& l);

// [inbound] (config_inbound.cpp).
void read_inbound(std::string_view origin, const toml::table& t, InboundSettings& in);
std::string inbound_toml(const InboundSettings& in);

// [metrics] (config_metrics.cpp).
void read_metrics(std::string_view origin, const toml::table& t, MetricsSettings& m);
std::string metrics_toml(const MetricsSettings& m);

// TOML output helpers.
std::string toml_string(std::string_view s);
std::string strings_toml(const std::vector<std::string>& v);
std::string actions_toml(const FailureActions& a);

}  // namespace ribbon::cfg
