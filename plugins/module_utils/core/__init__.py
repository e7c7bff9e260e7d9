"""gpufabric allocation core: pure, stdlib-only, deterministic (same input -> same output, byte for byte).

No I/O, no clock: timestamps come in as arguments. Invalid input raises FabricError carrying every error found;
unmet requirements are returned as Shortfall values, not raised. Import modules absolutely, e.g.
``from ansible_collections.gpufabric.platform.plugins.module_utils.core.plan import plan_compute_pool``.

Modules and public API
----------------------
errors      FabricError(errors) (str() joins them), raise_if(errors)
quantity    parse_quantity(value) -> Fraction, format_quantity(value, style='auto'|'binary'|'decimal'),
            whole_units(value, unit), plain_number(value)
names       dns_label_errors, dns_subdomain_errors, label_value_errors, label_key_errors, label_prefix_errors
            (each -> list of messages), normalise_family, family_vendor, normalise_architecture,
            generated_worker_pool_name(namespace, compute_pool, index), cloud_config_uuid(namespace, compute_pool),
            quorum(node_count), MANAGED_BY, API_VERSION
model       Host, GpuGroup, HOST_STATUSES, host_from_node(node, label_prefix, rg_prefix),
            host_from_dict(entry, label_prefix, rg_prefix), parse_hosts(nodes=(), inventory=(), ...)
spec        ComputePoolSpec, ControlPlane, WorkerPool, parse_compute_pool(args), compute_pool_from_resource(obj),
            immutable_errors(old, new), check_immutable(old, new)
allocation  MachinePool, HostEntry, allocation_from_status(status), allocated_hosts(allocation),
            assign(hosts, {compute pool: allocation})
fit         best_fit(groups, need, min_hosts), caps_for(size, need, min_hosts)
allocate    allocate(hosts, spec, current=(), others=None) -> AllocationResult(pools: TargetPool, shortfalls:
            Shortfall), allocate_many(hosts, specs, currents)
plan        plan_compute_pool(hosts, spec, current=(), others=None) -> Plan, plan_many(hosts, specs, currents),
            plan_delete(compute_pool, current), apply_plan(current, plan, hosts, now) (= next_allocation),
            Plan / Operation / Step (.to_dict(), Plan.changed, Plan.waiting), recorded_status(host)
capacity    hardware_capacity(allocation, hosts), hardware_allocation(apps), workload_refs(apps), AppAllocation,
            app_allocation(entry), gpu_totals(hardware), check_fit(...), check_quota(...), quota_errors(...),
            quota_capacity_warnings(...), parse_gpu_quota(quota), dedicated_errors(...), delete_guard_errors(...),
            place_app(...) -> Placement, gpu_usage(apps), pod_gpu_request(pod), node_gpus(node),
            pool_row(name, nodes, pods)
render      render_compute_pool(spec, status=None), render_compute_pool_spec(spec),
            render_compute_pool_status(spec, allocation, hosts, apps=(), status), render_machine_pools,
            pool_status(allocation, hosts, plan=None, deleting=False),
            compute_pool_label_changes(hosts, compute_pool, allocation, prefix)
labelled    PoolSpec, parse_pool(name, description, nodes), parse_pool_document(doc),
            pool_label_changes(nodes, spec, prefix, overwrite=False, state='present'), pool_members,
            pool_table(nodes, pods, prefix), render_pool(spec, row, prefix), apply_label_changes(nodes, changes)
project     ProjectSpec, parse_project(args), render_project(spec, prefix), role_rules(role),
            parse_tenant(args), render_tenant(name, quota)
selector    parse_selector(text) -> requirements, matches(requirements, labels) (label selectors, resolved
            locally against listed nodes)
autoscale   ScalingPolicy, parse_scaling_policy(args), decide(policy, samples, now, nodes, last_action_at=None,
            scaling_up_since=None, pending=()) -> Decision, epoch_seconds(rfc3339)
osmo        merge(base, override), merge_pod_templates(templates), resolve_variables(pool, platform, user),
            substitute(text, variables), validation_failures(rules, variables),
            resolve_platform(pool, platform_name, templates, validations, user_variables=None)

Typical compute_pool flow: hosts = parse_hosts(nodes); spec = parse_compute_pool(args);
current = allocation_from_status(cr.status); plan = plan_compute_pool(hosts, spec, current);
after = apply_plan(current, plan, hosts, now); labels = compute_pool_label_changes(hosts, spec.name, after,
prefix); status = render_compute_pool_status(spec, after, hosts, apps, pool_status(after, hosts, plan)).
"""
