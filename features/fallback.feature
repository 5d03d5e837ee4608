Feature: Fallback
  The apps keep working when the flywheel is down; it catches up by itself.

  Scenario: Events written while no worker runs are all processed when one starts
    Given no worker is running
    And the apps record 30 events for 12 users
    When a worker starts
    Then all 30 events are processed without anyone asking
    And nothing is left waiting in the queue
