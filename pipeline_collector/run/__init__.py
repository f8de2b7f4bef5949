"""The run: the flow of steps, the runner that keeps a run safe, the worker relay.

``runner.gather`` takes the lock, plans, runs the flow and keeps the books;
``steps`` are the pieces a flow is made of; ``relay`` carries a worker
process's log events back to the driver.  Nothing is re-exported here.
"""
