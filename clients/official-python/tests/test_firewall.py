"""Firewall set (PUT) and patch (PATCH) in the v1 shape (FirewallPolicy and
FirewallRule in docs/api/openapi.yaml; docs/api.md)."""

import fastvm
import pytest

pytestmark = pytest.mark.usefixtures("v1_firewall")

SSH = {"protocol": "tcp", "port_start": 22, "source_cidrs": ["2001:db8::/32"], "description": "ssh"}
WEB = {"protocol": "tcp", "port_start": 8000, "port_end": 8080}
DNS = {"protocol": "udp", "port_start": 53}


def rules(policy):
    return [(r.protocol, r.port_start, r.port_end, r.source_cidrs or [], r.description) for r in policy.ingress or []]


def test_set_replaces_the_policy(client, running_vm):
    vm = client.vms.set_firewall(running_vm.id, mode="restricted", ingress=[SSH, WEB])
    assert vm.firewall.mode == "restricted"
    assert rules(vm.firewall) == [("tcp", 22, 22, ["2001:db8::/32"], "ssh"), ("tcp", 8000, 8080, [], None)]
    vm = client.vms.set_firewall(running_vm.id, mode="open")
    assert vm.firewall.mode == "open" and not vm.firewall.ingress
    assert client.vms.retrieve(running_vm.id).firewall.mode == "open"


def test_patch_mode_keeps_the_rules_and_empty_ingress_clears_them(client, running_vm):
    client.vms.set_firewall(running_vm.id, mode="restricted", ingress=[DNS])
    vm = client.vms.patch_firewall(running_vm.id, mode="open")
    assert vm.firewall.mode == "open"
    assert rules(vm.firewall) == [("udp", 53, 53, [], None)]
    vm = client.vms.patch_firewall(running_vm.id, ingress=[SSH])
    assert vm.firewall.mode == "open"
    assert rules(vm.firewall) == [("tcp", 22, 22, ["2001:db8::/32"], "ssh")]
    vm = client.vms.patch_firewall(running_vm.id, ingress=[])
    assert vm.firewall.mode == "open" and not vm.firewall.ingress


def test_launch_with_a_firewall(launch):
    vm = launch(firewall={"mode": "restricted", "ingress": [WEB]})
    assert vm.firewall.mode == "restricted"
    assert rules(vm.firewall) == [("tcp", 8000, 8080, [], None)]


def test_ipv4_source_cidr_is_400(client, running_vm):
    with pytest.raises(fastvm.BadRequestError) as e:
        client.vms.set_firewall(running_vm.id, mode="restricted",
                                ingress=[{"protocol": "tcp", "port_start": 22, "source_cidrs": ["10.0.0.0/8"]}])
    assert e.value.body["error"] == "invalid_request"
    assert "sourceCidrs" in e.value.body["message"]


def test_port_range_backwards_is_400(client, running_vm):
    with pytest.raises(fastvm.BadRequestError):
        client.vms.patch_firewall(running_vm.id, ingress=[{"protocol": "tcp", "port_start": 90, "port_end": 80}])


def test_unknown_mode_or_protocol_is_400(client, running_vm):
    with pytest.raises(fastvm.BadRequestError):
        client.vms.set_firewall(running_vm.id, mode="closed")
    with pytest.raises(fastvm.BadRequestError):
        client.vms.set_firewall(running_vm.id, mode="restricted", ingress=[{"protocol": "icmp", "port_start": 1}])
