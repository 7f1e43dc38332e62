"""Tests of publisher.site: pages, feeds, the fidelity gate and the publish run."""
