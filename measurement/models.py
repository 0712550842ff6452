"""Rollups, metrics, goals, reports and experiments: does the program pay?"""
