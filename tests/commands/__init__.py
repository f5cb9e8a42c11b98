"""Tests of the /clusters grammar."""
