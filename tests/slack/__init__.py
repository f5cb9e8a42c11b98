"""Tests for bot/slack."""
