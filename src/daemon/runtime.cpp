// runtime.cpp — see runtime.hpp.
#include "daemon/runtime.hpp"

#include "daemon/daemon.hpp"

namespace ribbon::daemon {

Result<void> load_runtime(const std::filesystem::path& path, Runtime& rt, std::shared_ptr<Telemetry> telemetry) {
    auto config = Config::load(path);
    if (!config) return std::move(config).error();
    rt.config = std::move(*config);
    auto pool = SignerPool::create(rt.config.keystore_settings(), rt.config.signers, std::chrono::system_clock::now());
    if (!pool) return std::move(pool).error();
    rt.pool = std::move(*pool);
    rt.policy = std::make_shared<RecipientPolicy>(rt.config.store);
    rt.policy->set_store_observer(Telemetry::observer(telemetry));
    rt.telemetry = std::move(telemetry);
    return {};
}

}  // namespace ribbon::daemon
