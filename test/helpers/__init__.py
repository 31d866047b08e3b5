"""Test helpers shared by the suite: node process runners, rclpy clients, ROS domain ids,
the install space, sample inputs, fuzz frames and hostile files.

Plain modules, not fixtures: test/conftest.py holds the fixtures and pytest hooks and
imports from here. pytest puts test/ on sys.path (rootdir-relative "prepend" import
mode: test/ has no __init__.py), so test modules import them as `helpers.<module>`.
Nothing here imports rclpy at module level: test/conftest.py sets ROS_DOMAIN_ID first.
"""
