"""kflow test node agent: a kubelet stand-in that runs pod containers as host processes.

Run as `python -m nodeagent` with tests/cluster on PYTHONPATH (clusterctl.py does).
"""
