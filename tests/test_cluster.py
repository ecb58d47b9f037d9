"""Average-linkage clustering of new units on pairwise match probabilities."""
import numpy as np
import pytest

from lynxid.cluster import agglomerate

nan = np.nan


def same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


def test_obvious_clusters():
    truth = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    rng = np.random.default_rng(0)
    P = np.where(truth[:, None] == truth[None, :], rng.uniform(0.7, 0.99, (8, 8)), rng.uniform(0.01, 0.3, (8, 8)))
    P = (P + P.T) / 2
    labels = agglomerate(P)
    assert same_partition(labels, truth)
    assert sorted(set(labels)) == list(range(4))


def test_pairs_without_evidence_are_not_averaged_in():
    # units 0 and 1: one animal's left flank; unit 2: its right flank seen with unit 0's
    # other camera (0.8); 1 and 2 share no flank (NaN). Counting NaN as 0 would average 0.4.
    P = np.array([[nan, 0.9, 0.8],
                  [0.9, nan, nan],
                  [0.8, nan, nan]])
    assert agglomerate(P).tolist() == [0, 0, 0]
    assert agglomerate(np.full((3, 3), nan)).tolist() == [0, 1, 2]


def test_average_not_single_linkage():
    P = np.array([[nan, 0.95, 0.9],
                  [0.95, nan, 0.05],
                  [0.9, 0.05, nan]])
    labels = agglomerate(P)
    assert labels[0] == labels[1] and labels[2] != labels[0]   # mean(0.9, 0.05) < 0.5


def test_cannot_link_is_respected_transitively():
    P = np.full((3, 3), 0.9)
    cl = np.zeros((3, 3), bool)
    cl[0, 1] = cl[1, 0] = True
    labels = agglomerate(P, cannot_link=cl)
    assert labels[0] != labels[1]
    assert labels[2] in (labels[0], labels[1])
    assert len(set(agglomerate(P))) == 1


@pytest.mark.parametrize("p,threshold,merged", [(0.6, 0.5, True), (0.6, 0.7, False), (0.4, 0.5, False)])
def test_threshold(p, threshold, merged):
    P = np.array([[nan, p], [p, nan]])
    labels = agglomerate(P, threshold=threshold)
    assert (labels[0] == labels[1]) == merged


def test_empty_and_single():
    assert agglomerate(np.zeros((0, 0))).shape == (0,)
    assert agglomerate(np.array([[nan]])).tolist() == [0]


def test_units_that_cannot_be_one_animal():
    """identify's cannot-link: other stations within 30 min of a unit's time span, and two
    boxes in one photo (two animals side by side are never one new individual)."""
    import pandas as pd
    from lynxid.cluster import cannot_link
    t = pd.to_datetime(["2025-03-01 10:00", "2025-03-01 10:00", "2025-03-01 10:50", "2025-03-01 13:00"])
    units = pd.DataFrame({
        "station": ["S1", "S1", "S2", "S3"],
        "t0": t,
        # unit 0 lasts until 10:40: S2 at 10:50 is 10 min after its last photo
        "t1": t + pd.to_timedelta([40, 0, 0, 0], unit="min"),
        "files": [frozenset({"a.jpg", "b.jpg"}), frozenset({"b.jpg"}), frozenset({"c.jpg"}), frozenset({"d.jpg"})]})
    cl = cannot_link(units)
    assert cl[0, 1] and cl[1, 0]              # share photo b.jpg
    assert cl[0, 2]                           # spans 10 min apart, other station
    assert not cl[1, 2]                       # 50 min apart
    assert not cl[0, 3] and not cl[2, 3]      # hours apart
    assert not cl.diagonal().any()
    # without spans and photos: start times only, stations only
    cl0 = cannot_link(units[["station", "t0"]])
    assert not cl0[0, 1] and not cl0[0, 2]


def test_two_animals_in_one_photo_never_get_one_name():
    """A female and her kitten in one photo both look most like L1: the more probable keeps L1,
    the other takes its next candidate if that beats "new", else becomes new."""
    import pandas as pd
    from lynxid.identification import one_animal_per_name
    U = pd.DataFrame({"names": [np.array(["L1", "L2"]), np.array(["L1", "L2"]), np.array(["L1", "L3"]),
                                np.array(["L1"])],
                      "pk": [np.array([0.6, 0.3]), np.array([0.8, 0.1]), np.array([0.7, 0.2]), np.array([0.9])],
                      "p_new": [0.1, 0.1, 0.1, 0.05], "is_new": False,
                      "individual_id": ["L1", "L1", "L1", "L1"], "probability": [0.6, 0.8, 0.7, 0.9],
                      "files": [frozenset({"a.jpg"}), frozenset({"a.jpg", "b.jpg"}), frozenset({"b.jpg"}),
                                frozenset({"z.jpg"})]})
    one_animal_per_name(U)
    # units 0, 1, 2 share photos (a, b): 1 (0.8) keeps L1, 2 takes L3 (0.2 > 0.1), 0 takes L2
    assert U.individual_id.tolist() == ["L2", "L1", "L3", "L1"]
    assert U.probability.tolist() == [0.3, 0.8, 0.2, 0.9]
    U2 = pd.DataFrame({"names": [np.array(["L1", "L2"]), np.array(["L1", "L2"])],
                       "pk": [np.array([0.6, 0.05]), np.array([0.8, 0.1])], "p_new": [0.2, 0.1], "is_new": False,
                       "individual_id": ["L1", "L1"], "probability": [0.6, 0.8],
                       "files": [frozenset({"a.jpg"}), frozenset({"a.jpg"})]})
    one_animal_per_name(U2)
    assert U2.is_new.tolist() == [True, False] and pd.isna(U2.individual_id[0]) and U2.individual_id[1] == "L1"
    assert U2.probability.tolist() == [0.2, 0.8]
