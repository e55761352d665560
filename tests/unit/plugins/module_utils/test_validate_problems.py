"""Problems: capped per object and field, total kept (issue 19 item 6)."""

from ansible_collections.kubevirt_net.core.plugins.module_utils import nad
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import MAX_PER_FIELD, Problems
from tests.unit.plugins.module_utils.test_nad import bridge


def test_first_problems_of_a_field_are_kept_the_rest_counted():
    problems = Problems(max_per_field=3)
    for index in range(10):
        problems.add("network vms/a", "ipam", "overlaps %d" % index)
    problems.add("network vms/a", "name", "bad name")
    problems.add("network vms/b", "ipam", "overlaps x")
    assert len(problems) == problems.total == 12 and problems.omitted == 7
    assert [p["message"] for p in problems.items] == [
        "overlaps 0", "overlaps 1", "overlaps 2", "and 7 more problem(s) of this field, not shown", "bad name",
        "overlaps x"]
    assert problems.items[3]["omitted"] == 7 and problems.full("network vms/a", "ipam")
    assert not problems.full("network vms/b", "ipam")
    text = problems.render()
    assert text.startswith("12 invalid input(s), nothing was changed (5 shown):\n")
    assert "- network vms/a: ipam: and 7 more problem(s) of this field, not shown" in text


def test_few_problems_render_as_before():
    problems = Problems()
    problems.add("task", "x", "bad")
    assert problems.render() == "1 invalid input(s), nothing was changed:\n- task: x: bad"


def test_the_message_lists_at_most_max_lines_entries():
    problems = Problems()
    for index in range(150):
        problems.add("network vms/n%03d" % index, "ipam", "overlap")
    text = problems.render(max_lines=100)
    assert text.count("\n- network") == 100
    assert text.endswith("- ... and 50 more problem(s) not listed here (see the problems return value)")
    assert text.startswith("150 invalid input(s), nothing was changed (100 shown)")


def test_extending_items_keeps_the_count():
    local = Problems(max_per_field=1)
    local.add("a", "f", "1")
    local.add("a", "f", "2")
    problems = Problems()
    problems.items.extend(local.items)  # how kubevirt_vm_clone merges per-target problems
    assert len(problems) == 2


def test_400_networks_on_one_subnet_make_a_short_report_with_the_full_count():
    """79,800 overlapping pairs made a 16 MB message; now the first few per network, and the count."""
    nets = [bridge("n%03d" % i, type="host-local", subnet="10.0.0.0/24") for i in range(400)]
    problems = Problems()
    nad.check_overlaps(problems, nets, {})
    assert len(problems) == 400 * 399 // 2
    first = [p for p in problems.items if p["object"] == "network vms/n000"]
    assert len(first) == MAX_PER_FIELD + 1 and first[-1]["omitted"] == 399 - MAX_PER_FIELD
    assert len(problems.items) < 400 * (MAX_PER_FIELD + 1)
    text = problems.render()
    assert text.startswith("79800 invalid input(s)") and len(text) < 40000
