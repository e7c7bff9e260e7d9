"""gpufabric's core: pure, stdlib-only, deterministic (same input -> same output, byte for byte).

No I/O and no clock: what the cluster holds comes in as a ClusterState, the time as text. Invalid input raises
FabricError carrying every error found; unmet requirements are Shortfalls in the plan. Import modules absolutely,
e.g. ``from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import plan_fabric``.

Where things are:
- the spec: options (every module's options as data, and the one validator), fabric (a whole spec parsed and
  planned; single_entry_spec for one module's arguments), state (what a plan reads), writes (what it sends, when
  an object is already so, and diffs)
- the planner: planner, with plan_tenancy, plan_pools, plan_compute_pools, plan_apps, and ledger (the apps each
  pool holds)
- the domain: names, quantity, families (GPU product labels -> families), model (hosts), capacity (capacity and
  quota arithmetic), project (tenants and projects), labelled (gpuctl pools), compute_pool_spec,
  machine_pools (a compute pool's recorded allocation), allocate and fit (choosing hosts), plan (machine-pool
  operations with bridge hosts and quorum), compute_pool_render, autoscale, metrics, apps and osmo (app
  workloads, OSMO's templates and rules), registration (hub and spokes), edgehosts and appliance (bare metal)
"""
