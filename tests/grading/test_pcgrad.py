"""Exercise pcgrad: the projection coefficients, on 2-D and 3-D cases worked out by hand."""

import torch

from mtl_lib.pcgrad import pcgrad_sum, project_conflicting


def test_two_conflicting_gradients():
    g1, g2 = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 1.0])  # g1 . g2 = -1
    p1, p2 = project_conflicting([g1, g2])
    # g1 + (1/2) g2 = (1.5, 1.5) and g2 + (1/5) g1 = (-0.6, 1.2): each orthogonal to the other's original
    torch.testing.assert_close(p1, torch.tensor([1.5, 1.5]))
    torch.testing.assert_close(p2, torch.tensor([-0.6, 1.2]))
    update, _ = pcgrad_sum([g1, g2])
    torch.testing.assert_close(update, torch.tensor([0.9, 2.7]))


def test_agreeing_gradients_are_unchanged():
    g1, g2 = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0])  # g1 . g2 = 1 > 0
    p1, p2 = project_conflicting([g1, g2])
    torch.testing.assert_close(p1, g1)
    torch.testing.assert_close(p2, g2)


def test_three_tasks_in_random_order():
    """g3 conflicts with g1 and g2. Projecting g1 on g3 first makes it conflict with the ORIGINAL g2,
    so g1's result depends on the order; g3 ends at (0, 0, 1) in either order."""
    g1, g2, g3 = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), torch.tensor([-1.0, -1, 1])
    third = 1 / 3
    p1_options = [torch.tensor([2 * third, -third, third]), torch.tensor([2 * third, 0, third])]
    p2_options = [torch.tensor([-third, 2 * third, third]), torch.tensor([0, 2 * third, third])]
    seen = set()
    for seed in range(20):
        p1, p2, p3 = project_conflicting([g1, g2, g3], generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(p3, torch.tensor([0.0, 0.0, 1.0]))
        matches = [i for i, option in enumerate(p1_options) if torch.allclose(p1, option, atol=1e-6)]
        assert matches, f"seed {seed}: g1 projected to {p1.tolist()}, expected one of the two orders"
        assert any(torch.allclose(p2, option, atol=1e-6) for option in p2_options), p2.tolist()
        seen.add(matches[0])
    assert seen == {0, 1}, "the visiting order should be random (drawn from the generator)"


def test_same_generator_same_result_and_sum():
    grads = [torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), torch.tensor([-1.0, -1, 1])]
    first = project_conflicting(grads, generator=torch.Generator().manual_seed(7))
    again = project_conflicting(grads, generator=torch.Generator().manual_seed(7))
    update, _ = pcgrad_sum(grads, generator=torch.Generator().manual_seed(7))
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    torch.testing.assert_close(update, sum(first))


def test_shapes_and_a_zero_gradient():
    g1, g2 = torch.zeros(2, 3), torch.ones(2, 3)
    p1, p2 = project_conflicting([g1, g2])
    assert p1.shape == (2, 3) and p1.dtype == torch.float32
    assert torch.equal(p1, g1) and torch.equal(p2, g2)  # nothing to project, and no NaN
