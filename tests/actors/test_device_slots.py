"""Device slots (``devices.workers``): k workers per GPU, each asking 1/k of it, so Ray's own
placement sets the ratio; with the adaptive schedule 3:1 slots give 3:1 work on equal devices."""

from __future__ import annotations

import pytest

from actors.pool import plan_slots
from threadx.core.config import config_from_dict
from threadx.core.errors import ConfigError
from threadx.devices import slots_per_device

RES = {"CPU": 4.0, "GPU": 2.0, "threadx_gpu_5090": 1.0, "threadx_gpu_2060": 1.0}


def test_three_slots_of_a_third_on_the_5090_and_one_whole_2060():
    slots = plan_slots(RES, 1, 0, {"5090": 3, "2060": 1})
    assert [(s.device, round(s.num_gpus, 4)) for s in slots] == [
        ("2060", 1.0),
        ("5090", 0.3333),
        ("5090", 0.3333),
        ("5090", 0.3333),
    ]
    assert slots[1].resources == (("threadx_gpu_5090", 1 / 3),)
    assert sum(s.num_gpus for s in slots if s.device == "5090") == pytest.approx(1.0)
    assert [s.device for s in plan_slots(RES, 1, 0, {})] == ["2060", "5090"]  # default: one each


def test_slot_counts_match_names_like_the_weights_do():
    assert slots_per_device(["5090", "5090_2", "2060"], {"5090": 2}) == {
        "5090": 2,
        "5090_2": 2,
        "2060": 1,
    }
    with pytest.raises(ConfigError, match=r"devices.workers: device '4090' is not in the cluster"):
        slots_per_device(["5090"], {"4090": 2})
    with pytest.raises(ConfigError, match="workers of device '5090' must be in"):
        config_from_dict({"devices": {"workers": {"5090": 0}}}, "<test>", ".")


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_three_to_one_slots_give_three_quarters_of_the_work_on_fake_gpus(tmp_path_factory):
    """Fake 5090 + 2060 (CPU workers, equally fast), 3 slots on the 5090 and 1 on the 2060,
    schedule adaptive: every slot pulls work as it finishes, so the 5090 gets 75 % +- 3 %."""
    import ray

    from tests.ray_helpers import connect_fake_gpus, make_cfg, spec_4000

    cfg = make_cfg(
        tmp_path_factory.mktemp("data"), workers={"5090": 3, "2060": 1}, schedule="adaptive"
    )
    try:
        client = connect_fake_gpus(cfg, num_cpus=4)
        rid = client.submit(spec_4000(chunk=10, name="slots"))
        st = client.wait(rid, timeout=420)
        assert st.state == "completed", st
        frame = client.results(rid)
        share = float((frame["device"] == "5090").mean())
        workers = client.workers()
        print(f"\n5090 share {share:.3f} over {len(frame)} combinations, 400 tasks")
        assert sorted((w["device"], round(w["num_gpus"], 3)) for w in workers) == [
            ("2060", 1.0),
            ("5090", 0.333),
            ("5090", 0.333),
            ("5090", 0.333),
        ]
        assert abs(share - 0.75) <= 0.03, share
    finally:
        ray.shutdown()
