"""Declarative room DSL: statecharts (XState JSON) and JSONLogic guards."""
