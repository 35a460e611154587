"""Sources only fetch and translate: PromQL answers (or simulated ones) into snapshots."""
