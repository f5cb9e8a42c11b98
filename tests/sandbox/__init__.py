"""Tests for sandbox/."""
